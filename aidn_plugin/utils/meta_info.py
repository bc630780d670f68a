"""BasicSR's ``meta_info`` text files, read strictly.

One image per line: ``NAME (H,W,C) COMPRESSION``, e.g. ``0001_s001.png (480,480,3) 1``. In an LMDB's
``meta_info.txt`` (BasicSR's LMDB layout) all three fields are present and the LMDB key is NAME without
its extension. A dataset's ``meta_info_file`` may stop after NAME or after the shape, as BasicSR's own
sub-image lists do. Blank lines are ignored; any other line that does not parse is an error naming the
file and the line number.
"""
import os
import re

_LINE = re.compile(r'^(?P<name>\S+)(?:\s+\((?P<h>\d+),\s*(?P<w>\d+),\s*(?P<c>\d+)\)(?:\s+(?P<level>\d+))?)?$')


class MetaInfoError(ValueError):
    """A meta_info file that is missing or has a line that does not parse."""


def format_line(name, shape, compress_level):
    """The line BasicSR writes for one LMDB entry (``shape`` is (h, w) or (h, w, c))."""
    h, w = shape[:2]
    c = shape[2] if len(shape) == 3 else 1
    return f'{name} ({h},{w},{c}) {compress_level}'


def read_meta_info(path, require_shape=False):
    """Parse a meta_info file.

    Args:
        path (str): the file.
        require_shape (bool): every line must carry ``(H,W,C) COMPRESSION`` (an LMDB's meta_info.txt).

    Returns:
        list[tuple]: ``(name, shape or None)`` per line, in file order; ``shape`` is ``(h, w, c)``.
    """
    try:
        with open(path, encoding='utf-8') as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        raise MetaInfoError(f'{path}: meta_info file not found') from None
    except (OSError, UnicodeDecodeError) as error:
        raise MetaInfoError(f'{path}: cannot read meta_info file ({error})') from None
    entries, seen = [], {}
    expected = '"NAME.png (H,W,C) COMPRESSION"' if require_shape else '"NAME.png [(H,W,C) [COMPRESSION]]"'
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text:
            continue
        match = _LINE.match(text)
        if match is None or (require_shape and match.group('level') is None) or \
                not os.path.splitext(match.group('name'))[1]:
            raise MetaInfoError(f'{path}:{number}: cannot parse meta_info line {text!r}, expected {expected}')
        name = match.group('name')
        if name in seen:
            raise MetaInfoError(f'{path}:{number}: {name!r} is listed twice (first on line {seen[name]})')
        seen[name] = number
        shape = None
        if match.group('h') is not None:
            shape = tuple(int(match.group(k)) for k in ('h', 'w', 'c'))
        entries.append((name, shape))
    if not entries:
        raise MetaInfoError(f'{path}: meta_info file lists no images')
    return entries


def lmdb_keys(lmdb_path):
    """Keys (names without extension) of a BasicSR LMDB, from its meta_info.txt, in file order."""
    if not os.path.isdir(lmdb_path):
        raise MetaInfoError(f'{lmdb_path}: LMDB folder not found')
    meta = os.path.join(lmdb_path, 'meta_info.txt')
    return [os.path.splitext(name)[0] for name, _ in read_meta_info(meta, require_shape=True)]


__all__ = ['MetaInfoError', 'format_line', 'lmdb_keys', 'read_meta_info']
