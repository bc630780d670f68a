"""``aidn prepare lmdb``: an image folder to an LMDB in BasicSR's layout.

``NAME.lmdb/`` holds ``data.mdb``, ``lock.mdb`` and ``meta_info.txt``; each image is stored PNG-encoded
under the key = its file stem, and ``meta_info.txt`` has one line ``{stem}.png (h,w,c) {compress_level}``
per image, sorted by key. BasicSR's own ``PairedImageDataset`` (``io_backend: lmdb``) reads it, and so
does ``EdgePairedImageDataset``. Pixels are stored as decoded by ``aidn_plugin.utils.image_io.decode_stored``:
grey stays grey, 16 bits stay 16 bits (edge maps too), an alpha channel is dropped.

Stems must be ASCII without spaces or dots (BasicSR encodes keys as ASCII and cuts meta_info names at
the first dot). The LMDB is built in a hidden staging folder and renamed into place when complete.
"""
import functools
import os

from aidn_plugin.utils import image_io
from aidn_plugin.utils.meta_info import format_line
from aidn_plugin.prepare import PrepareError
from aidn_plugin.prepare.parallel import run_parallel
from aidn_plugin.prepare.staging import check_distinct, check_images, check_input_folder, default_workers, staged_folder
from aidn_plugin.prepare.subimages import _check_unique_stems

_COMMIT_EVERY = 1000  # entries per write transaction


def _encode_one(name, input_dir, compress_level):
    img = image_io.read_stored(os.path.join(input_dir, name))
    return os.path.splitext(name)[0], img.shape, image_io.encode_png(img, compress_level)


def check_key(folder, name):
    stem = os.path.splitext(name)[0]
    if not stem.isascii() or any(ch.isspace() for ch in stem) or '.' in stem or not stem:
        raise PrepareError(f'{os.path.join(folder, name)}: LMDB keys are file stems and must be ASCII without '
                           f'spaces or dots (BasicSR reads them so); rename the file')
    return stem


def make_lmdb(input_dir, lmdb_path, compress_level=1, workers=None, overwrite=False, map_size=None,
              progress=False):
    """Write ``lmdb_path`` from the images of ``input_dir``; returns the number of entries.

    Args:
        input_dir (str): folder of images (HR, LR or edge maps).
        lmdb_path (str): the LMDB folder to write; its name must end in ``.lmdb``.
        compress_level (int): PNG compression level of the stored images, 0..9. Default 1.
        workers (int | None): worker processes; default: the CPU count, at most 4.
        overwrite (bool): replace an existing output; otherwise an existing one is refused before any work.
        progress (bool): show a progress bar on stderr.
        map_size (int | None): the initial LMDB map size in bytes (default: 4 x the input files, at least
            64 MiB); the map doubles whenever it fills, so it never has to be guessed right.
    """
    import lmdb
    check_input_folder(input_dir)
    if not os.path.basename(os.path.normpath(lmdb_path)).endswith('.lmdb'):
        raise PrepareError(f'{lmdb_path}: the output name must end in .lmdb (BasicSR requires it)')
    check_distinct(input_dir, lmdb_path)
    if not 0 <= compress_level <= 9:
        raise PrepareError(f'compress_level must be 0..9, got {compress_level}', 'compress_level')
    names = image_io.list_images(input_dir)
    if not names:
        raise PrepareError(f'{input_dir}: no images found')
    _check_unique_stems(input_dir, names)
    for name in names:
        check_key(input_dir, name)
    check_images(input_dir, names)
    names.sort(key=lambda n: os.path.splitext(n)[0])
    workers = default_workers() if workers is None else workers
    # Start from the input size; grow the map whenever it fills (PNG of a JPEG source is larger).
    if map_size is None:
        map_size = max(64 << 20, 4 * sum(os.path.getsize(os.path.join(input_dir, n)) for n in names))
    with staged_folder(lmdb_path, overwrite) as staging:
        env = lmdb.open(staging, map_size=map_size)
        lines, pending = [], []
        try:
            job = functools.partial(_encode_one, input_dir=input_dir, compress_level=compress_level)
            for key, shape, data in run_parallel(job, names, workers, desc='lmdb', progress=progress):
                pending.append((key.encode('ascii'), data))
                lines.append(format_line(f'{key}.png', shape, compress_level))
                if len(pending) >= _COMMIT_EVERY:
                    _commit(env, pending)
            _commit(env, pending)
        finally:
            env.close()
        image_io.write_bytes(os.path.join(staging, 'meta_info.txt'), ('\n'.join(lines) + '\n').encode('ascii'))
    return len(names)


def _commit(env, pending):
    """Write ``pending`` in one transaction, doubling the map size until it fits."""
    import lmdb
    while pending:
        try:
            with env.begin(write=True) as txn:
                for key, data in pending:
                    txn.put(key, data)
        except lmdb.MapFullError:
            env.set_mapsize(env.info()['map_size'] * 2)
            continue
        pending.clear()


__all__ = ['check_key', 'make_lmdb']
