"""The checks every ``aidn prepare`` step makes before any work, and its staged output folder.

``check_images(folder, names)`` reads every input's header (not its pixels, ``utils.image_header``) and
refuses, naming the file in one line, an image whose declared size is past the decoder's limits or that
has several frames (an animation or a multi-page TIFF, of which only the first would be used), before
anything is written.

``staged_folder(path)`` yields a hidden folder next to ``path``; when the block ends without error the
folder is renamed to ``path`` (replacing an old one only with ``overwrite=True``), and on any error or
interruption it is deleted (the package's atomic writer, ``aidn_plugin.utils.atomic``). A re-run therefore
finds either the complete output or none.
"""
import contextlib
import os

from aidn_plugin.prepare import PrepareError
from aidn_plugin.utils import atomic, image_header


def check_new_output(path, overwrite):
    """Refuse an existing output unless ``overwrite`` (checked before any work starts)."""
    if os.path.lexists(path) and not overwrite:
        raise PrepareError(f'{path}: already exists; pass overwrite=True to replace it', 'overwrite=True')


def check_input_folder(path):
    if not os.path.isdir(path):
        raise PrepareError(f'{path}: input folder not found')


def check_distinct(input_dir, output):
    a, b = os.path.realpath(input_dir), os.path.realpath(output)
    if a == b or a.startswith(b + os.sep):
        raise PrepareError(f'{output}: the output must not be the input folder {input_dir} or contain it')


def check_images(folder, names):
    """Refuse, before any work, an image of ``folder`` past the decoder's limits or with several frames."""
    for name in names:
        path = os.path.join(folder, name)
        header = image_header.checked_header(path)
        if header is not None and header.frames > 1:
            raise PrepareError(f'{path}: {header.frames} frames (an animation or a multi-page {header.format}); '
                               'training images must be still images: keep the frame you want as a PNG')


@contextlib.contextmanager
def staged_folder(path, overwrite=False):
    """The package's staged output folder (:func:`aidn_plugin.utils.atomic.staged_folder`), refusing an
    existing output unless ``overwrite`` with a :class:`PrepareError` naming that parameter."""
    check_new_output(path, overwrite)
    with atomic.staged_folder(path, overwrite=True) as staging:
        yield staging


def default_workers():
    return max(1, min(4, os.cpu_count() or 1))


__all__ = ['check_distinct', 'check_images', 'check_input_folder', 'check_new_output', 'default_workers',
           'staged_folder']
