"""``aidn prepare subimages``: overlapping square crops of large HR images (the field's DIV2K recipe:
480-pixel crops every 240 pixels, plus a last crop flush with the border when the remainder exceeds
``thresh_size``, as BasicSR's ``extract_subimages.py``). Crops are named ``{stem}_s{001..}.png`` and keep
the source's channels and bit depth (grey stays grey, 16 bits stay 16 bits; an alpha channel is dropped).
"""
import functools
import os

from aidn_plugin.utils import image_io
from aidn_plugin.prepare import PrepareError
from aidn_plugin.prepare.parallel import run_parallel
from aidn_plugin.prepare.staging import check_distinct, check_images, check_input_folder, default_workers, staged_folder


def crop_starts(length, crop_size, step, thresh_size=0):
    """Start offsets along one dimension; empty when ``length < crop_size``."""
    if length < crop_size:
        return []
    starts = list(range(0, length - crop_size + 1, step))
    if length - (starts[-1] + crop_size) > thresh_size:
        starts.append(length - crop_size)
    return starts


def _crop_one(name, input_dir, output_dir, crop_size, step, thresh_size, compress_level):
    img = image_io.read_stored(os.path.join(input_dir, name))
    h, w = img.shape[:2]
    stem = os.path.splitext(name)[0]
    count = 0
    for y in crop_starts(h, crop_size, step, thresh_size):
        for x in crop_starts(w, crop_size, step, thresh_size):
            count += 1
            crop = img[y:y + crop_size, x:x + crop_size, ...]
            image_io.write_png(os.path.join(output_dir, f'{stem}_s{count:03d}.png'), crop, compress_level)
    return name, count


def extract_subimages(input_dir, output_dir, crop_size=480, step=240, thresh_size=0, compress_level=3,
                      workers=None, overwrite=False, progress=False):
    """Crop every image of ``input_dir`` into ``output_dir``; returns (images, crops, skipped names).

    Args:
        input_dir (str): folder of HR images.
        output_dir (str): output folder (created).
        crop_size (int): side of the square crops in pixels. Default 480.
        step (int): distance between crop starts. Default 240.
        thresh_size (int): add a last crop flush with the border when more than this many pixels remain.
            Default 0.
        compress_level (int): PNG compression level, 0..9. Default 3.
        workers (int | None): worker processes; default: the CPU count, at most 4.
        overwrite (bool): replace an existing output; otherwise an existing one is refused before any work.
        progress (bool): show a progress bar on stderr.
    """
    check_input_folder(input_dir)
    check_distinct(input_dir, output_dir)
    for name, value in (('crop_size', crop_size), ('step', step)):
        if value < 1:
            raise PrepareError(f'{name} must be a positive integer, got {value}', name)
    if thresh_size < 0:
        raise PrepareError(f'thresh_size must be >= 0, got {thresh_size}', 'thresh_size')
    names = image_io.list_images(input_dir)
    if not names:
        raise PrepareError(f'{input_dir}: no images found')
    _check_unique_stems(input_dir, names)
    check_images(input_dir, names)
    workers = default_workers() if workers is None else workers
    crops, skipped = 0, []
    with staged_folder(output_dir, overwrite) as staging:
        job = functools.partial(_crop_one, input_dir=input_dir, output_dir=staging, crop_size=crop_size, step=step,
                                thresh_size=thresh_size, compress_level=compress_level)
        for name, count in run_parallel(job, names, workers, desc='subimages', progress=progress):
            crops += count
            if count == 0:
                skipped.append(name)
        if crops == 0:
            raise PrepareError(f'{input_dir}: every image is smaller than crop_size {crop_size}; nothing written',
                               'crop_size')
    return len(names), crops, skipped


def _check_unique_stems(folder, names):
    stems = {}
    for name in names:
        stem = os.path.splitext(name)[0]
        if stem in stems:
            raise PrepareError(f'{folder}: {stems[stem]} and {name} have the same stem {stem!r}; rename one')
        stems[stem] = name


__all__ = ['crop_starts', 'extract_subimages']
