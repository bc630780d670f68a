"""Outputs that appear whole or not at all.

``staged_folder(path)`` yields a hidden folder next to ``path``; when the block ends without error the
folder is renamed to ``path`` (replacing an old one only with ``overwrite=True``), and on any error or
interruption it is deleted. A re-run therefore finds either the complete output or none.
"""
import contextlib
import os
import shutil
import tempfile

from aidn_plugin.utils.image_io import DIR_MODE
from aidn_plugin.prepare import PrepareError


def check_new_output(path, overwrite, flag='--overwrite'):
    """Refuse an existing output unless ``overwrite`` (checked before any work starts)."""
    if os.path.lexists(path) and not overwrite:
        raise PrepareError(f'{path}: already exists; pass {flag} to replace it')


def check_input_folder(path):
    if not os.path.isdir(path):
        raise PrepareError(f'{path}: input folder not found')


def check_distinct(input_dir, output):
    a, b = os.path.realpath(input_dir), os.path.realpath(output)
    if a == b or a.startswith(b + os.sep):
        raise PrepareError(f'{output}: the output must not be the input folder {input_dir} or contain it')


@contextlib.contextmanager
def staged_folder(path, overwrite=False):
    path = os.path.abspath(path)
    check_new_output(path, overwrite)
    parent, base = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=f'.{base}.partial-')
    try:
        os.chmod(staging, DIR_MODE)
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if os.path.lexists(path):
        # Move the old output aside first: the new one is renamed in before the old one is deleted.
        old = tempfile.mkdtemp(dir=parent, prefix=f'.{base}.old-')
        os.rename(path, os.path.join(old, base))
        os.rename(staging, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, path)


def default_workers():
    return max(1, min(4, os.cpu_count() or 1))


__all__ = ['check_distinct', 'check_input_folder', 'check_new_output', 'default_workers', 'staged_folder']
