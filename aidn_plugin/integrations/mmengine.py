"""AIDN in mmengine's root ``MODELS`` registry, so ``dict(type='AIDN', upscale=4, ...)`` builds it.

Child registries (MMagic's ``mmagic.registry.MODELS``, any ``Registry('model', parent=MODELS, scope=...)``)
look a type up in their parents when they do not have it, so an MMagic-style config reaches AIDN through
this root registration, e.g. as the generator of a model::

    model = dict(type='BaseEditModel', generator=dict(type='AIDN', upscale=4, num_feat=32), ...)

``import aidn_plugin`` registers as soon as ``mmengine.registry`` is imported; importing this module
registers too. ``register()`` is idempotent.
"""
from aidn_plugin.archs.aidn_arch import AIDN


def register(registry=None):
    """Register AIDN in ``registry`` (default: mmengine's root ``MODELS``) under the name ``AIDN``; does
    nothing when it is already there. Returns the registry."""
    # imported here, not at the top: importing mmengine.registry runs the package's post-import hook,
    # which calls this function, and by then the function must exist
    from mmengine.registry import MODELS
    registry = MODELS if registry is None else registry
    if registry.module_dict.get('AIDN') is not AIDN:
        registry.register_module(name='AIDN', module=AIDN)
    return registry


register()
