"""The house, read from the imports of every module under ``aidn_plugin/`` (parsed, not imported).

Each sub-package, and each of the few modules allowed at the top level, is a *room* with a floor. A room
imports only rooms on lower floors, so no two rooms import each other and nothing imports the room above
it; nothing but the package face (``aidn_plugin/__init__.py``) imports the face; ``utils`` imports no
other room; ``data`` and ``prepare`` never import each other; only ``cli`` parses arguments or prints.
A new sub-package or a new module at the top level has to be given its floor here, on purpose.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'aidn_plugin'

# room -> floor; a room may import only rooms on a lower floor
FLOORS = {
    # primitives: the side-effect-free version, image files / bicubic / meta_info / atomic writer / amp,
    # the one edge operator (a public face of its own: aidn_plugin.edges.edge_map), BasicSR workarounds
    'version': 0, 'utils': 0, 'edges': 0, 'compat': 0,
    # the architecture and what its tensors say
    'archs': 1,
    # what is built on the architecture and the primitives, side by side
    'data': 2, 'prepare': 2, 'losses': 2, 'models': 2, 'zoo': 2, 'integrations': 2, 'inference': 2,
    # the BasicSR option templates shipped as package data (aidn_plugin/options/*.yml)
    'templates': 2,
    # what `import aidn_plugin` does: registration in BasicSR's and mmengine's registries
    'registration': 3,
    # the console scripts: the only room that knows flags and prints
    'cli': 4,
}
FACE = '__init__'  # aidn_plugin/__init__.py: imports what it exposes; nothing imports it by name


def _room(path):
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else parts[0][:-len('.py')]


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix('').parts)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imported_modules(path, tree):
    """Every module a file imports (also inside functions), as absolute dotted names."""
    package = _module_name(path) if path.name == '__init__.py' else _module_name(path).rpartition('.')[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[:len(package.split('.')) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            if base == 'aidn_plugin':
                # `from aidn_plugin import x`: a room when x is one, else a name of the face
                for alias in node.names:
                    yield node.lineno, f'aidn_plugin.{alias.name}' if alias.name in FLOORS else 'aidn_plugin'
            else:
                yield node.lineno, base


def _modules():
    return [(path, ast.parse(path.read_text(encoding='utf-8'), str(path))) for path in sorted(PACKAGE.rglob('*.py'))]


MODULES = _modules()


def _edges():
    """(importing room, imported room or FACE, file, line) for every import of aidn_plugin by aidn_plugin."""
    found = []
    for path, tree in MODULES:
        room = _room(path)
        for line, name in _imported_modules(path, tree):
            parts = name.split('.')
            if parts[0] != 'aidn_plugin':
                continue
            target = parts[1] if len(parts) > 1 else FACE
            if target != room:
                found.append((room, target, path.relative_to(PACKAGE.parent), line))
    return found


EDGES = _edges()


def test_every_room_has_a_floor():
    rooms = {_room(path) for path, _ in MODULES} - {FACE}
    assert rooms - set(FLOORS) == set(), 'a new module or sub-package at the top level: give it a floor in FLOORS'
    loose = {path.stem for path in PACKAGE.glob('*.py')} - {FACE}
    packages = {path.parent.name for path in PACKAGE.glob('*/__init__.py')}
    # the top level holds the package face, the sub-packages and these few modules only
    assert loose == {'version', 'edges', 'compat', 'registration', 'templates'}
    assert rooms == loose | packages


def test_nothing_imports_the_package_face():
    offending = [f'{path}:{line}' for room, target, path, line in EDGES if target == FACE and room != FACE]
    assert offending == [], 'import the module that defines a name (aidn_plugin.version, ...), not the face'


def test_rooms_import_only_lower_floors():
    offending = [f'{path}:{line}: {room} (floor {FLOORS[room]}) imports {target} (floor {FLOORS[target]})'
                 for room, target, path, line in EDGES
                 if room != FACE and target != FACE and FLOORS[target] >= FLOORS[room]]
    assert offending == []


def test_no_two_rooms_import_each_other():
    """A cycle check on the graph of rooms (what the floors also guarantee, stated on its own)."""
    graph = {}
    for room, target, _, _ in EDGES:
        if FACE not in (room, target):
            graph.setdefault(room, set()).add(target)
    visiting, done = [], set()

    def visit(room):
        if room in visiting:
            raise AssertionError('import cycle: ' + ' -> '.join(visiting[visiting.index(room):] + [room]))
        if room in done:
            return
        visiting.append(room)
        for target in sorted(graph.get(room, ())):
            visit(target)
        visiting.pop()
        done.add(room)

    for room in sorted(graph):
        visit(room)


@pytest.mark.parametrize('room, forbidden', [
    ('utils', set(FLOORS) - {'utils'}),  # the primitives stand on nothing of ours
    ('data', {'prepare', 'cli'}),
    ('prepare', {'data', 'cli'}),
])
def test_what_a_room_must_not_import(room, forbidden):
    offending = [f'{path}:{line}: {target}' for source, target, path, line in EDGES
                 if source == room and target in forbidden | {FACE}]
    assert offending == []


def _user_output(tree):
    """Lines that parse arguments or print for users: argparse, print(), sys.stdout / sys.stderr."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == 'argparse' for a in node.names):
            yield node.lineno, 'import argparse'
        elif isinstance(node, ast.ImportFrom) and node.module == 'argparse':
            yield node.lineno, 'from argparse import'
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'print':
            yield node.lineno, 'print()'
        elif (isinstance(node, ast.Attribute) and node.attr in ('stdout', 'stderr')
              and isinstance(node.value, ast.Name) and node.value.id == 'sys'):
            yield node.lineno, f'sys.{node.attr}'


def test_only_the_cli_parses_arguments_or_prints():
    offending = [f'{path.relative_to(PACKAGE.parent)}:{line}: {what}' for path, tree in MODULES
                 if _room(path) != 'cli' for line, what in _user_output(tree)]
    assert offending == []


def test_the_version_module_has_no_side_effects():
    tree = dict((path.name, tree) for path, tree in MODULES if path.parent == PACKAGE)['version.py']
    body = [node for node in tree.body if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
    assert [type(node).__name__ for node in body] == ['Assign']
    assert [target.id for target in body[0].targets] == ['__version__']


def test_the_checker_sees_the_imports_it_forbids():
    """The rules above are only as good as the parser: it must see lazy, relative and face imports."""
    source = ('def f():\n    from aidn_plugin.data import x\n'
              'from aidn_plugin import __version__, zoo\n'
              'from . import atomic\n')
    path = PACKAGE / 'utils' / 'example.py'
    names = sorted(name for _, name in _imported_modules(path, ast.parse(source)))
    assert names == ['aidn_plugin', 'aidn_plugin.data', 'aidn_plugin.utils', 'aidn_plugin.zoo']


@pytest.mark.parametrize('module, check', [
    ('aidn_plugin.integrations.mmengine', "from mmengine.registry import MODELS; assert MODELS.get('AIDN')"),
    ('aidn_plugin.integrations.spandrel', "import spandrel; assert 'AIDN' in spandrel.MAIN_REGISTRY"),
])
def test_each_integration_imports_first_thing_in_a_fresh_interpreter(module, check):
    """Importing an integration imports its library, which runs the package's post-import hook, which
    registers through the same integration module, half-imported at that moment: it must cope."""
    from helpers import python
    result = python(f'import {module}\n{check}\n')
    assert result.returncode == 0, result.stderr[-2000:]
