"""AIDN in other libraries' registries, one module per library, named after it, each registering when
imported and offering the same idempotent ``register(registry=None)`` (``None``: the library's main
registry): ``mmengine`` (``import aidn_plugin`` registers as soon as mmengine's registry is imported) and
``spandrel`` (import it explicitly: spandrel has no plugin entry point)."""
