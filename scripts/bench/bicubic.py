"""Bicubic, two ways: the floor of plain bicubic upscaling on a test set, and the check of ``aidn prepare lr``
against the bicubic LR shipped with the benchmark sets.

    python -m scripts.bench.bicubic --hr datasets/demo/val/HR --lr datasets/demo/val/LR_bicubic/X4 --scale 4
    python -m scripts.bench.bicubic --hr datasets/Set5/HR --lr datasets/Set5/LR_bicubic/X4 --scale 4 --filename-tmpl '{}x4'
    python -m scripts.bench.bicubic --check-sets Set5 Set14 B100 --root datasets --json benchmarks/bicubic_check.json

The floor (``--hr``, ``--lr``, ``--scale``, ``--filename-tmpl``): MATLAB-style bicubic upscaling of every LR
image, the HR cropped to LR size x scale, Y-PSNR / SSIM with a border of ``scale`` (BasicSR's metrics). The
check (``--check-sets``, ``--root`` holding ``<set>/HR`` and ``<set>/LR_bicubic/X<s>``, ``--scales`` 2 3 4,
``--json`` to write the rows atomically): the LR of ``aidn_plugin.utils.bicubic.bicubic_downscale`` and of
BasicSR's ``imresize`` + rounding against the shipped ``<name>x<s>.png``: identical values, largest
difference, Y-PSNR.
"""
import argparse
import os

import cv2
import numpy as np

import aidn_plugin  # noqa: F401  (compat layer before BasicSR)
from basicsr.metrics import calculate_psnr, calculate_ssim
from basicsr.utils.matlab_functions import imresize


def bicubic_scores(hr_dir, lr_dir, scale, filename_tmpl='{}'):
    """Mean (psnr, ssim) and per-image rows for bicubic upscaling of every LR image of a test set."""
    rows = []
    for name in sorted(os.listdir(hr_dir)):
        stem, ext = os.path.splitext(name)
        hr = cv2.imread(os.path.join(hr_dir, name), cv2.IMREAD_COLOR)
        lr = cv2.imread(os.path.join(lr_dir, filename_tmpl.format(stem) + ext), cv2.IMREAD_COLOR)
        if hr is None or lr is None:
            raise SystemExit(f'cannot read the pair for {name} in {hr_dir} / {lr_dir}')
        up = imresize(lr.astype(np.float64) / 255., scale)
        up = np.clip(np.round(up * 255.), 0, 255).astype(np.uint8)
        hr = hr[:lr.shape[0] * scale, :lr.shape[1] * scale]
        rows.append((name, calculate_psnr(up, hr, scale, test_y_channel=True),
                     calculate_ssim(up, hr, scale, test_y_channel=True)))
    return float(np.mean([r[1] for r in rows])), float(np.mean([r[2] for r in rows])), rows


def check_lr(root, sets, scales):
    """Rows of the ``aidn prepare lr`` check (see the module docstring), printed as a Markdown table too."""
    from aidn_plugin.utils import image_io
    from aidn_plugin.utils.bicubic import bicubic_downscale, mod_crop
    print('| set | scale | images | ours: identical values | ours: max diff | ours: min Y-PSNR (dB) '
          '| BasicSR imresize: identical | BasicSR: min Y-PSNR (dB) |\n|---|---|---|---|---|---|---|---|')
    rows = []
    for name in sets:
        hr_dir = os.path.join(root, name, 'HR')
        for scale in scales:
            same, total, max_diff, psnr, same_b, psnr_b = 0, 0, 0, [], 0, []
            files = image_io.list_images(hr_dir)
            for file in files:
                hr = mod_crop(image_io.read(os.path.join(hr_dir, file)), scale)
                stem = os.path.splitext(file)[0]
                lr = image_io.read(os.path.join(root, name, 'LR_bicubic', f'X{scale}', f'{stem}x{scale}.png'))
                ours = bicubic_downscale(hr, scale)
                theirs = np.clip(np.floor(imresize(hr.astype(np.float32), 1. / scale) + 0.5), 0, 255).astype(np.uint8)
                same, same_b, total = same + int((ours == lr).sum()), same_b + int((theirs == lr).sum()), total + lr.size
                max_diff = max(max_diff, int(np.abs(ours.astype(int) - lr).max()))
                psnr.append(calculate_psnr(ours, lr, 0, test_y_channel=True))
                psnr_b.append(calculate_psnr(theirs, lr, 0, test_y_channel=True))
            print(f'| {name} | x{scale} | {len(files)} | {100 * same / total:.3f} % | {max_diff} | {min(psnr):.2f} '
                  f'| {100 * same_b / total:.2f} % | {min(psnr_b):.2f} |')
            rows.append({'set': name, 'scale': scale, 'images': len(files), 'identical_share': same / total,
                         'max_diff': max_diff, 'min_y_psnr': min(psnr), 'basicsr_identical_share': same_b / total,
                         'basicsr_min_y_psnr': min(psnr_b)})
    return rows


def main():
    import sys
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hr', help='folder of HR images')
    parser.add_argument('--lr', help='folder of LR images')
    parser.add_argument('--scale', type=int)
    parser.add_argument('--filename-tmpl', default='{}', help="LR name from the HR stem, e.g. '{}x4'")
    parser.add_argument('--check-sets', nargs='+', help='check aidn prepare lr on these sets instead')
    parser.add_argument('--root', default='datasets', help='folder of the --check-sets')
    parser.add_argument('--scales', nargs='+', type=int, default=[2, 3, 4])
    parser.add_argument('--json', help='--check-sets: also write the rows to this JSON file (atomically)')
    args = parser.parse_args()
    if args.check_sets:
        rows = check_lr(args.root, args.check_sets, args.scales)
        if args.json:
            from scripts.bench.report_io import machine_info, write_json_atomic
            write_json_atomic(args.json, {'meta': machine_info(None), 'rows': rows,
                                          'command': 'python -m scripts.bench.bicubic ' + ' '.join(sys.argv[1:])})
        return
    if not (args.hr and args.lr and args.scale):
        parser.error('give --hr, --lr and --scale (the floor) or --check-sets (the check)')
    psnr, ssim, rows = bicubic_scores(args.hr, args.lr, args.scale, args.filename_tmpl)
    for name, p, s in rows:
        print(f'{name:<24} {p:7.3f} dB  {s:.4f}')
    print(f'{"mean":<24} {psnr:7.3f} dB  {ssim:.4f}  (bicubic x{args.scale}, Y channel, crop {args.scale})')


if __name__ == '__main__':
    main()
