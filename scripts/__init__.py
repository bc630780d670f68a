"""Maintainers' tools of the repository (not part of the installed package). Run them from the repository
root as modules, e.g. ``python -m scripts.bench.speed`` or ``python -m scripts.publish_weights``."""
