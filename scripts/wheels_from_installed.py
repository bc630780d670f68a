"""Wheels of the GPU check's pure-Python dependencies, re-packed from this environment (no registry needed).

    python scripts/wheels_from_installed.py                 # -> wheels/
    python scripts/wheels_from_installed.py --out /tmp/wheels basicsr spandrel

For a machine that cannot reach the package registries but has the project installed (a development
machine here): each named distribution's installed files, as its ``RECORD`` lists them, go into a
``NAME-VERSION-py3-none-any.whl`` with a fresh ``RECORD`` (sha256 of every file). Only pure-Python
distributions (``Root-Is-Purelib: true``, tag ``py3-none-any``) are packed; anything else is refused in one
line (gather those with ``pip download``, docs/contributing.md, "GPU check"). Installer-specific files (``INSTALLER``,
``REQUESTED``, ``direct_url.json``) and compiled ``__pycache__`` files are left out. Wheels are written through
the package's atomic writer.

Default distributions (``DEFAULT``): what the GPU check needs beyond the CUDA image's packages, and the
rest of the project's pure-Python dependencies.
"""
import argparse
import base64
import hashlib
import io
import os
import re
import sys
import zipfile
from importlib import metadata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = ('basicsr', 'spandrel', 'mmengine', 'addict', 'yapf', 'platformdirs', 'termcolor')
SKIPPED = {'INSTALLER', 'REQUESTED', 'direct_url.json', 'RECORD'}


def _record_hash(data):
    return 'sha256=' + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()


def pack(name):
    """(file name, bytes) of the wheel of the installed distribution ``name``."""
    dist = metadata.distribution(name)
    wheel_info = dist.read_text('WHEEL') or ''
    if 'Root-Is-Purelib: true' not in wheel_info or 'Tag: py3-none-any' not in wheel_info:
        raise SystemExit(f'wheels_from_installed: {name} is not a pure-Python py3-none-any distribution; '
                         'gather it with pip download')
    normal = re.sub(r'[-_.]+', '_', dist.metadata['Name'])
    buffer, record = io.BytesIO(), []
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
        for path in dist.files:
            parts = path.parts
            if '__pycache__' in parts or path.name in SKIPPED or parts[0] == '..' or path.suffix == '.pyc':
                continue
            data = path.locate().read_bytes()
            archive.writestr(path.as_posix(), data)
            record.append(f'{path.as_posix()},{_record_hash(data)},{len(data)}')
        info_dir = next(p.parts[0] for p in dist.files if p.parts[0].endswith('.dist-info'))
        record.append(f'{info_dir}/RECORD,,')
        archive.writestr(f'{info_dir}/RECORD', '\n'.join(record) + '\n')
    return f'{normal}-{dist.version}-py3-none-any.whl', buffer.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('names', nargs='*', default=list(DEFAULT), metavar='NAME')
    parser.add_argument('--out', default=os.path.join(ROOT, 'wheels'))
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    from aidn_plugin.utils.atomic import write_bytes
    for name in args.names:
        try:
            filename, data = pack(name)
        except metadata.PackageNotFoundError:
            raise SystemExit(f'wheels_from_installed: {name} is not installed in {sys.prefix}') from None
        write_bytes(os.path.join(args.out, filename), data)
        print(f'{filename} ({len(data) / 1024:.0f} KiB)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
