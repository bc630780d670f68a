"""The demo set: a tiny training and validation set made from scikit-image's photographs.

    aidn prepare demo                      # -> datasets/demo (what options/train_AIDN_x4_demo.yml reads)
    aidn prepare demo -o somewhere/demo --overwrite

Layout written (every file PNG, 8-bit RGB):

    train/HR/{source}_{nn}.png        HR training crops, sides multiples of 12 between 96 and 192
    val/HR/{name}.png                 whole validation images, sides multiples of 12
    val/LR_bicubic/X{2,3,4}/{name}.png  their MATLAB-style bicubic LR
    README.md                         sources, licenses, crop boxes

Training uses on-the-fly LR from ``train/HR`` (no ``dataroot_lq``); validation uses ``val/HR`` with
``val/LR_bicubic/X{s}``. Training and validation come from different photographs. The crops are drawn
with a fixed seed, so the output is the same on every run. scikit-image is a dependency of BasicSR, so the
photographs are on every machine that has the package.
"""
import os

import numpy as np

# name -> (skimage loader, description, license line); all shipped inside the scikit-image wheel.
SOURCES = {
    'astronaut': ('astronaut', 'Eileen Collins, NASA Great Images database',
                  'public domain ("no known copyright restrictions, released into the public domain")'),
    'rocket': ('rocket', 'launch of DSCOVR on Falcon 9, SpaceX Photos', 'public domain (released by SpaceX)'),
    'hubble': ('hubble_deep_field', 'Hubble eXtreme Deep Field, NASA / HubbleSite',
               'public domain (NASA: "may be freely used in the public domain")'),
    'ihc': ('immunohistochemistry', 'IHC staining, Center for Microscopy and Molecular Imaging',
            'no known copyright restrictions'),
    'chelsea': ('chelsea', 'Chelsea the cat, photograph by Stefan van der Walt', 'CC0'),
    'coffee': ('coffee', 'coffee cup, photograph by Rachel Michetti, courtesy of Pikolo Espresso Bar', 'CC0'),
    'retina': ('retina', 'fundus photograph, Mikael Haggstrom (Wikimedia Commons)', 'CC0 1.0'),
}
TRAIN_SOURCES = ('astronaut', 'rocket', 'hubble', 'ihc')
CROPS_PER_SOURCE = 10
CROP_SIDES = tuple(range(96, 193, 12))
# Validation: (source, top, left, height, width); sides multiples of 12 so that x2, x3 and x4 all divide.
VAL_BOXES = (('chelsea', 6, 20, 288, 420), ('coffee', 40, 96, 324, 396), ('retina', 470, 84, 300, 324))
SCALES = (2, 3, 4)
SEED = 20250


def _load(name):
    from skimage import data
    return getattr(data, SOURCES[name][0])()


def _train_crops(rng):
    for source in TRAIN_SOURCES:
        img = _load(source)
        h, w = img.shape[:2]
        for n in range(CROPS_PER_SOURCE):
            ch, cw = int(rng.choice(CROP_SIDES)), int(rng.choice(CROP_SIDES))
            top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            yield f'{source}_{n + 1:02d}', source, img[top:top + ch, left:left + cw], (top, left, ch, cw)


def build(output):
    """Write the demo set into the (new, empty) folder ``output``; returns the rows of its file table."""
    from aidn_plugin.utils import image_io
    from aidn_plugin.utils.bicubic import bicubic_downscale
    rng = np.random.default_rng(SEED)
    rows = []
    os.makedirs(os.path.join(output, 'train', 'HR'))
    for name, source, rgb, box in _train_crops(rng):
        image_io.write_png(os.path.join(output, 'train', 'HR', f'{name}.png'), rgb[:, :, ::-1], compress_level=9)
        rows.append((f'train/HR/{name}.png', source, box))
    for scale in SCALES:
        os.makedirs(os.path.join(output, 'val', 'LR_bicubic', f'X{scale}'))
    os.makedirs(os.path.join(output, 'val', 'HR'))
    for source, top, left, ch, cw in VAL_BOXES:
        bgr = np.ascontiguousarray(_load(source)[top:top + ch, left:left + cw, ::-1])
        image_io.write_png(os.path.join(output, 'val', 'HR', f'{source}.png'), bgr, compress_level=9)
        rows.append((f'val/HR/{source}.png', source, (top, left, ch, cw)))
        for scale in SCALES:
            lr = bicubic_downscale(bgr, scale)
            image_io.write_png(os.path.join(output, 'val', 'LR_bicubic', f'X{scale}', f'{source}.png'), lr,
                              compress_level=9)
    _write_readme(output, rows)
    return rows


def _write_readme(output, rows):
    import skimage
    from aidn_plugin.utils import image_io
    lines = [
        '# Demo set (embedded)',
        '',
        'A tiny training and validation set so that the demo training runs on a fresh clone with nothing to',
        'download. It is for trying the pipeline, not for results: real training uses DIV2K/DF2K sub-images.',
        f'Made by `aidn prepare demo` (seed {SEED}) from the photographs that scikit-image',
        f'{skimage.__version__} ships in `skimage/data/`; running it again gives the same files.',
        '',
        '## Layout',
        '',
        '```',
        f'train/HR/            {sum(r[0].startswith("train/") for r in rows)} HR crops, 8-bit RGB PNG, '
        f'sides multiples of 12 from {CROP_SIDES[0]} to {CROP_SIDES[-1]}',
        '                      (train with on-the-fly LR: no dataroot_lq; gt_size up to 96 fits every crop)',
        f'val/HR/              {len(VAL_BOXES)} whole validation images, sides multiples of 12',
        'val/LR_bicubic/X2/   their MATLAB-style bicubic LR (same file names: filename_tmpl "{}")',
        'val/LR_bicubic/X3/',
        'val/LR_bicubic/X4/',
        '```',
        '',
        'Training and validation come from different photographs.',
        '',
        '## Sources and licenses',
        '',
        '| source | scikit-image function | what | license |',
        '|---|---|---|---|',
    ]
    for name, (function, what, license_text) in SOURCES.items():
        lines.append(f'| {name} | `skimage.data.{function}()` | {what} | {license_text} |')
    lines += [
        '',
        'License texts and provenance as stated in the docstrings of `skimage.data` (scikit-image is',
        'BSD-3-Clause; these images carry the licenses above). rocket, hubble and retina are stored by',
        'scikit-image as JPEG, so their crops carry mild JPEG artefacts.',
        '',
        '## Files',
        '',
        '| file | source | crop (top, left, height, width) |',
        '|---|---|---|',
    ]
    for path, source, box in rows:
        lines.append(f'| `{path}` | {source} | {box} |')
    lines.append('')
    image_io.write_bytes(os.path.join(output, 'README.md'), '\n'.join(lines).encode('utf-8'))


def make_demo_set(output, overwrite=False):
    """Build the demo set in ``output`` through a staging folder (nothing half-written); returns the number
    of images written. An existing ``output`` is a PrepareError unless ``overwrite``."""
    from aidn_plugin.prepare.staging import staged_folder
    with staged_folder(output, overwrite) as staging:
        rows = build(staging)
    return len(rows)
