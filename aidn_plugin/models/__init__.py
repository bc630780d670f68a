"""Model classes; importing this package registers them in BasicSR's MODEL_REGISTRY."""
from aidn_plugin.models.aidn_model import AIDNModel

__all__ = ['AIDNModel']
