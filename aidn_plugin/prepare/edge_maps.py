"""``aidn prepare edges``: precomputed edge maps of LR images, for ``dataroot_edge``.

Each LR image is read as the dataset reads it (RGB, [0, 1]), passed through
``aidn_plugin.edges.edge_map`` and written as ``{stem}.png`` in the format of
``aidn_plugin.edges.encode_edge_png`` (one channel, 16 bits, value ``round(edge * 65535)``), which
``EdgePairedImageDataset`` reads back with ``decode_edge_png``.
"""
import functools
import os

from aidn_plugin.edges import EDGE_OPERATORS, encode_edge_png
from aidn_plugin.utils import image_io
from aidn_plugin.prepare import PrepareError
from aidn_plugin.prepare.parallel import run_parallel
from aidn_plugin.prepare.staging import check_distinct, check_images, check_input_folder, default_workers, staged_folder
from aidn_plugin.prepare.subimages import _check_unique_stems

def edge_png(bgr, operator='sobel'):
    """16-bit edge map (H x W ``uint16``) of a decoded BGR image (``uint8`` or ``uint16``)."""
    import torch
    from basicsr.utils import img2tensor

    from aidn_plugin.edges import edge_map
    lq = img2tensor(image_io.to_float(bgr), bgr2rgb=True, float32=True)
    with torch.no_grad():
        return encode_edge_png(edge_map(lq, operator))


def _single_thread():
    import torch
    torch.set_num_threads(1)  # one image per process; the pool provides the parallelism


def _edge_one(name, input_dir, output_dir, operator):
    bgr = image_io.read(os.path.join(input_dir, name))
    image_io.write_png(os.path.join(output_dir, os.path.splitext(name)[0] + '.png'), edge_png(bgr, operator))
    return name


def make_edges(input_dir, output_dir, operator='sobel', workers=None, overwrite=False, progress=False):
    """Write the edge map of every image of ``input_dir`` into ``output_dir``; returns the count.

    Args:
        input_dir (str): folder of LR images.
        output_dir (str): output folder (created).
        operator (str): ``sobel``, ``scharr`` or ``laplacian`` (``aidn_plugin.edges.EDGE_OPERATORS``).
        workers (int | None): worker processes; default: the CPU count, at most 4.
        overwrite (bool): replace an existing output; otherwise an existing one is refused before any work.
        progress (bool): show a progress bar on stderr.
    """
    check_input_folder(input_dir)
    check_distinct(input_dir, output_dir)
    if operator not in EDGE_OPERATORS:
        raise PrepareError(f'operator {operator!r}: expected one of {", ".join(EDGE_OPERATORS)}', 'operator')
    names = image_io.list_images(input_dir)
    if not names:
        raise PrepareError(f'{input_dir}: no images found')
    _check_unique_stems(input_dir, names)
    check_images(input_dir, names)
    workers = default_workers() if workers is None else workers
    with staged_folder(output_dir, overwrite) as staging:
        job = functools.partial(_edge_one, input_dir=input_dir, output_dir=staging, operator=operator)
        for _ in run_parallel(job, names, workers, desc='edges', initializer=_single_thread, progress=progress):
            pass
    return len(names)


__all__ = ['edge_png', 'make_edges']
