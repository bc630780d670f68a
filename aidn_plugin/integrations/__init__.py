"""AIDN in other libraries' registries, one module per library, named after it: ``mmengine`` (imported by
``import aidn_plugin``) and ``spandrel`` (import it explicitly: spandrel has no plugin entry point)."""
