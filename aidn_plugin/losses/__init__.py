"""Training losses; importing this package registers them in BasicSR's LOSS_REGISTRY."""
from aidn_plugin.losses.edge_loss import EdgeAwareL1Loss

__all__ = ['EdgeAwareL1Loss']
