"""Model classes; importing this package registers them in BasicSR's MODEL_REGISTRY."""
