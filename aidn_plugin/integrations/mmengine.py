"""AIDN in mmengine's root ``MODELS`` registry, so ``dict(type='AIDN', upscale=4, ...)`` builds it.

Child registries (MMagic's ``mmagic.registry.MODELS``, any ``Registry('model', parent=MODELS, scope=...)``)
look a type up in their parents when they do not have it, so an MMagic-style config reaches AIDN through
this root registration, e.g. as the generator of a model::

    model = dict(type='BaseEditModel', generator=dict(type='AIDN', upscale=4, num_feat=32), ...)

Importing this module registers; ``register()`` is idempotent.
"""
from mmengine.registry import MODELS

from aidn_plugin.archs.aidn_arch import AIDN


def register(registry=MODELS):
    """Register AIDN in ``registry`` under the name ``AIDN``; does nothing when it is already there."""
    if registry.module_dict.get('AIDN') is not AIDN:
        registry.register_module(name='AIDN', module=AIDN)
    return registry


register()
