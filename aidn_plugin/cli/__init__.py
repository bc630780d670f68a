"""Console scripts: ``basicsr`` (BasicSR's train/test pipelines with plugins) and ``aidn`` (tools)."""
