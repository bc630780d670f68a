"""``aidn prepare lr``: an HR folder to ``{output}/X{scale}/`` with MATLAB-style bicubic downscaling.

Each HR image is cropped to a multiple of the scale (bottom/right), downscaled with
:func:`aidn_plugin.utils.bicubic.bicubic_downscale` (bit-exact with the LR shipped with Set5, Set14 and
B100) and written as PNG named ``filename_tmpl.format(stem) + '.png'``. Grey stays grey, 16-bit stays
16-bit, an alpha channel is dropped: the dataset's on-the-fly LR gives the same pixels.
"""
import contextlib
import functools
import os

from aidn_plugin.utils import image_io
from aidn_plugin.prepare import PrepareError
from aidn_plugin.utils.bicubic import bicubic_downscale, mod_crop
from aidn_plugin.prepare.parallel import run_parallel
from aidn_plugin.prepare.staging import (check_distinct, check_images, check_input_folder, check_new_output,
                                         default_workers, staged_folder)
from aidn_plugin.prepare.subimages import _check_unique_stems


def _downscale_one(name, input_dir, outputs, filename_tmpl):
    img = image_io.read_stored(os.path.join(input_dir, name))
    stem = os.path.splitext(name)[0]
    for scale, folder in outputs:
        if min(img.shape[:2]) < scale:
            raise PrepareError(f'{os.path.join(input_dir, name)}: {img.shape[1]}x{img.shape[0]} is smaller than '
                               f'scale {scale}')
        lr = bicubic_downscale(mod_crop(img, scale), scale)
        image_io.write_png(os.path.join(folder, filename_tmpl.format(stem) + '.png'), lr)
    return name


def make_lr(input_dir, output_root, scales=(4, ), filename_tmpl='{}', workers=None, overwrite=False,
            progress=False):
    """Write ``output_root/X{s}/`` for each scale; returns the list of folders written.

    Args:
        input_dir (str): folder of HR images.
        output_root (str): where the ``X{s}`` folders go.
        scales (iterable of int): downscaling factors, each >= 2. Default (4, ).
        filename_tmpl (str): LR file name from the HR stem, with ``{}`` for the stem. Default ``'{}'``.
        workers (int | None): worker processes; default: the CPU count, at most 4.
        overwrite (bool): replace an existing output; otherwise an existing one is refused before any work.
        progress (bool): show a progress bar on stderr.
    """
    check_input_folder(input_dir)
    scales = sorted(set(int(s) for s in scales))
    if not scales or min(scales) < 2:
        raise PrepareError(f'scales must be integers >= 2, got {scales}', 'scales')
    if '{}' not in filename_tmpl:
        raise PrepareError(f'filename_tmpl {filename_tmpl!r} must contain {{}}', 'filename_tmpl')
    names = image_io.list_images(input_dir)
    if not names:
        raise PrepareError(f'{input_dir}: no images found')
    _check_unique_stems(input_dir, names)
    check_images(input_dir, names)
    targets = [os.path.join(output_root, f'X{s}') for s in scales]
    for target in targets:  # refuse before any work, not after the first scale
        check_distinct(input_dir, target)
        check_new_output(target, overwrite)
    workers = default_workers() if workers is None else workers
    created_root = not os.path.exists(output_root)
    try:
        # One staging folder per scale; all are renamed into place only when every image succeeded.
        with contextlib.ExitStack() as stack:
            stagings = [stack.enter_context(staged_folder(target, overwrite)) for target in targets]
            job = functools.partial(_downscale_one, input_dir=input_dir, outputs=list(zip(scales, stagings)),
                                    filename_tmpl=filename_tmpl)
            for _ in run_parallel(job, names, workers, desc='lr', progress=progress):
                pass
    except BaseException:
        if created_root and os.path.isdir(output_root) and not os.listdir(output_root):
            os.rmdir(output_root)  # the output root this run created: leave no empty trace either
        raise
    return targets


__all__ = ['make_lr']
