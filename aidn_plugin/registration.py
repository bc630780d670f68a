"""How ``import aidn_plugin`` registers AIDN in BasicSR and mmengine without importing either (or torch).

``import aidn_plugin`` must make ``type: AIDN``, ``type: EdgePairedImageDataset`` and
``model_type: AIDNModel`` work in any BasicSR option file, but the ``aidn`` command and a plain
``aidn upscale`` should not pay for importing BasicSR (seconds: it imports all of its archs, datasets,
losses and models). So :func:`install` registers at once into a library that is already imported, and
otherwise when that library is imported later (a post-import hook):

* ``basicsr``: just before it is imported, :func:`aidn_plugin.compat.patch_torchvision_functional_tensor`
  (BasicSR 1.4.2 fails to import on torchvision >= 0.17 without it); just after, the rest of the compat
  layer and the registration of the architecture, dataset and model classes (:func:`register_basicsr`);
* ``mmengine.registry``: just after, AIDN in mmengine's root ``MODELS`` (:func:`register_mmengine`).

Both registrations are idempotent and may also be called directly.
"""
import importlib.abc
import sys


def register_basicsr():
    """Apply the compat layer and register AIDN, EdgePairedImageDataset, AIDNModel and the losses in
    BasicSR's registries (imports BasicSR if it is not imported yet)."""
    from aidn_plugin import compat
    compat.apply()
    from basicsr.utils.registry import ARCH_REGISTRY

    from aidn_plugin.archs.aidn_arch import AIDN
    if 'AIDN' not in ARCH_REGISTRY:
        ARCH_REGISTRY.register(AIDN)
    # these modules register their classes with BasicSR's decorators when first imported
    import aidn_plugin.data  # noqa: F401
    import aidn_plugin.losses  # noqa: F401
    import aidn_plugin.models  # noqa: F401,F811


def register_mmengine():
    """Register AIDN in mmengine's root ``MODELS`` (imports mmengine if it is not imported yet)."""
    from aidn_plugin.integrations import mmengine
    mmengine.register()


def _before_basicsr():
    from aidn_plugin import compat
    compat.patch_torchvision_functional_tensor()


# module name -> (run before its import, run after it)
_HOOKS = {
    'basicsr': (_before_basicsr, register_basicsr),
    'mmengine.registry': (None, register_mmengine),
}


class _HookedLoader(importlib.abc.Loader):
    """The module's own loader, followed by a registration once the module has executed."""

    def __init__(self, loader, after):
        self._loader, self._after = loader, after

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        # the module sees its own loader, as if no hook were there
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._after()

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: asks the other finders, then wraps the loader of a hooked module."""

    def __init__(self):
        self._busy = set()  # names being looked up now: the before-hooks look them up themselves

    def find_spec(self, fullname, path=None, target=None):
        hooks = _HOOKS.get(fullname)
        if hooks is None or fullname in self._busy:
            return None
        before, after = hooks
        self._busy.add(fullname)
        try:
            if before is not None:
                before()
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, 'find_spec'):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, 'exec_module'):
                        spec.loader = _HookedLoader(spec.loader, after)
                    return spec
            return None
        finally:
            self._busy.discard(fullname)


_FINDER = _PostImportFinder()


def install():
    """Register now into what is imported, and install the post-import hook for the rest (idempotent)."""
    if 'basicsr' in sys.modules:
        register_basicsr()
    if 'mmengine.registry' in sys.modules:
        register_mmengine()
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
