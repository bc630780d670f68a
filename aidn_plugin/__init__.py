"""aidn-plugin: AIDN super-resolution for BasicSR.

Importing this package applies the compatibility layer (``aidn_plugin.compat``) and registers the
architecture ``AIDN``, the dataset ``EdgePairedImageDataset`` and the model ``AIDNModel`` in BasicSR's
registries, and ``AIDN`` in mmengine's ``MODELS``.
"""
__version__ = '0.1.0'

from aidn_plugin import compat

compat.apply()

from aidn_plugin import archs, data, models  # noqa: E402  (registration must follow compat.apply)
from aidn_plugin import mmengine_registry  # noqa: E402,F401  (AIDN in mmengine's MODELS too)
from aidn_plugin.archs import AIDN  # noqa: E402

__all__ = ['AIDN', '__version__', 'archs', 'compat', 'data', 'models']
