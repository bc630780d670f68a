"""aidn-plugin: AIDN super-resolution for BasicSR.

Importing this package makes the architecture ``AIDN``, the dataset ``EdgePairedImageDataset`` and the
model ``AIDNModel`` available in BasicSR's registries (and ``AIDN`` in mmengine's ``MODELS``), with the
compatibility layer (``aidn_plugin.compat``) applied to BasicSR. It does so without importing BasicSR,
mmengine or torch itself: into a library already imported at once, otherwise as soon as it is imported
(``aidn_plugin.registration``). ``aidn_plugin.AIDN`` is the architecture class.
"""
from aidn_plugin.version import __version__
from aidn_plugin import compat, registration  # noqa: F401  (compat: no import of BasicSR until it is needed)

registration.install()


def __getattr__(name):
    # the architecture imports torch: only when asked for
    if name == 'AIDN':
        from aidn_plugin.archs.aidn_arch import AIDN
        return AIDN
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = ['AIDN', '__version__', 'compat', 'registration']
