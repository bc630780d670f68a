"""Architectures; importing this package registers them in BasicSR's ARCH_REGISTRY."""
from aidn_plugin.archs.aidn_arch import AIDN

__all__ = ['AIDN']
