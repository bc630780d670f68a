"""The package version, in a module with no side effects (no compat layer, no BasicSR import)."""
__version__ = '0.1.0'
