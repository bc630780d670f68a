"""Discovery of BasicSR plugins: packages that declare the entry-point group ``basicsr.plugins``.

Loading a plugin means importing the module its entry point names; the import registers its classes.
"""
import sys
from importlib.metadata import entry_points

PLUGIN_GROUP = 'basicsr.plugins'


def load_plugins(stream=sys.stderr):
    """Import every module declared in the ``basicsr.plugins`` entry-point group.

    Args:
        stream: where a one-line warning goes for a plugin that fails to import (the others still load).

    Returns:
        list[str]: ``"name (module)"`` for each plugin that loaded.
    """
    loaded = []
    for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        try:
            entry.load()
        except Exception as error:  # a broken third-party plugin must not stop training with ours
            print(f'basicsr: warning: plugin {entry.name!r} ({entry.value}) failed to load: {error}', file=stream)
            continue
        loaded.append(f'{entry.name} ({entry.value})')
    return loaded
