"""Y-PSNR / SSIM of plain bicubic upscaling (MATLAB-style, as the field's "Bicubic" rows) on a test set.

    python -m scripts.bench.bicubic --hr datasets/demo/val/HR --lr datasets/demo/val/LR_bicubic/X4 --scale 4
    python -m scripts.bench.bicubic --hr datasets/Set5/HR --lr datasets/Set5/LR_bicubic/X4 \
        --scale 4 --filename-tmpl '{}x4'

The HR image is cropped to LR size x scale (the benchmark convention); metrics on the BT.601 Y channel with a
border crop of ``scale`` pixels, through BasicSR's calculate_psnr / calculate_ssim.
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hr', required=True, help='folder of HR images')
    parser.add_argument('--lr', required=True, help='folder of LR images')
    parser.add_argument('--scale', type=int, required=True)
    parser.add_argument('--filename-tmpl', default='{}', help="LR name from the HR stem, e.g. '{}x4'")
    args = parser.parse_args()
    psnr, ssim, rows = bicubic_scores(args.hr, args.lr, args.scale, args.filename_tmpl)
    for name, p, s in rows:
        print(f'{name:<24} {p:7.3f} dB  {s:.4f}')
    print(f'{"mean":<24} {psnr:7.3f} dB  {ssim:.4f}  (bicubic x{args.scale}, Y channel, crop {args.scale})')


if __name__ == '__main__':
    main()
