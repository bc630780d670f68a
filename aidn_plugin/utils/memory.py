"""Sizes of memory: what this process may still allocate, and sizes as people write them (``512M``, ``4G``).

:func:`available_bytes` is the smaller of the kernel's estimate of memory available without swapping
(``MemAvailable`` in /proc/meminfo) and the room left under this process's cgroup limit (v2
``memory.max`` - ``memory.current``, or v1 ``memory.limit_in_bytes`` - ``memory.usage_in_bytes``), so a
container's limit counts, not only the host's memory. ``None`` where neither can be read (not Linux).
"""
import re

_UNITS = {'': 1, 'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}
_CGROUP_FILES = (('/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory.current'),
                 ('/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/memory/memory.usage_in_bytes'))


def _read_int(path):
    try:
        with open(path) as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None  # absent, or 'max' (no limit)


def _meminfo_available():
    try:
        with open('/proc/meminfo') as handle:
            for line in handle:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_bytes():
    """Bytes this process can still allocate without swapping, or ``None`` when unknown (see the module doc)."""
    candidates = [_meminfo_available()]
    for limit_file, usage_file in _CGROUP_FILES:
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:  # v1 writes 'no limit' as ~2^63
            candidates.append(max(0, limit - usage))
    known = [value for value in candidates if value is not None]
    return min(known) if known else None


def parse_size(text):
    """``'512M'``, ``'4G'``, ``'1.5GiB'``, ``'64k'`` or a plain number of bytes -> bytes (binary units).

    Raises:
        ValueError: anything else, or a size below one byte.
    """
    match = re.fullmatch(r'\s*([0-9]+(?:\.[0-9]*)?)\s*([kKmMgGtT]?)(?:i?B)?\s*', str(text))
    if not match:
        raise ValueError(f'expected a size such as 512M, 4G or 1.5GiB, got {text!r}')
    value = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if value < 1:
        raise ValueError(f'expected a size of at least one byte, got {text!r}')
    return value


def format_bytes(count):
    """``1536`` -> ``'1.5 KiB'``; binary units, one decimal."""
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if count < 1024 or unit == 'GiB':
            break
        count /= 1024
    return f'{count:.0f} B' if unit == 'B' else f'{count:.1f} {unit}'


__all__ = ['available_bytes', 'format_bytes', 'parse_size']
