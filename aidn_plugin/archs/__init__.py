"""Architectures (pure torch modules; ``aidn_plugin.registration`` puts them in BasicSR's ARCH_REGISTRY)."""
from aidn_plugin.archs.aidn_arch import AIDN

__all__ = ['AIDN']
