"""A side-by-side figure: bicubic | AIDN | HR crops, one row per image, for the model-zoo page.

    python scripts/visual_comparison.py --weights aidn_plugin/zoo/weights/aidn_x4-XXXXXXXX.pth \
        --pair datasets/demo/val/HR/chelsea.png datasets/demo/val/LR_bicubic/X4/chelsea.png \
        --pair datasets/demo/val/HR/coffee.png datasets/demo/val/LR_bicubic/X4/coffee.png \
        -o docs/assets/visual_x4.png

Each crop (``--crop`` HR pixels square) is placed where the HR image has the most edge energy, so the figure
shows detail rather than flat sky. Every panel is labelled with its Y-PSNR against the HR crop's full image
(border crop = scale), computed with BasicSR's calculate_psnr.
"""
import argparse

import cv2
import numpy as np
import torch

import aidn_plugin  # noqa: F401  (compat layer before BasicSR)
from aidn_plugin.edges import edge_map
from aidn_plugin.inference.tiling import upscale_image
from aidn_plugin.zoo.checkpoints import load_model
from basicsr.metrics import calculate_psnr
from basicsr.utils.matlab_functions import imresize


def busiest_window(hr, size):
    """Top-left corner of the ``size`` square with the largest summed edge response."""
    rgb = torch.from_numpy(np.ascontiguousarray(hr[:, :, ::-1])).permute(2, 0, 1).float() / 255.
    energy = edge_map(rgb)[None]
    sums = torch.nn.functional.avg_pool2d(energy, size, stride=max(size // 4, 1))
    index = int(sums.flatten().argmax())
    stride = max(size // 4, 1)
    return (index // sums.shape[-1]) * stride, (index % sums.shape[-1]) * stride


def labelled(panel, text, zoom):
    panel = cv2.resize(panel, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
    bar = np.full((28, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([panel, bar])


def figure_row(model, hr_path, lr_path, crop, zoom):
    scale = model.upscale
    hr, lr = cv2.imread(hr_path, cv2.IMREAD_COLOR), cv2.imread(lr_path, cv2.IMREAD_COLOR)
    if hr is None or lr is None:
        raise SystemExit(f'cannot read {hr_path} or {lr_path}')
    hr = hr[:lr.shape[0] * scale, :lr.shape[1] * scale]
    with torch.inference_mode():
        sr = upscale_image(model, lr)
    bicubic = np.clip(np.round(imresize(lr.astype(np.float64) / 255., scale) * 255.), 0, 255).astype(np.uint8)
    top, left = busiest_window(hr, crop)
    window = (slice(top, top + crop), slice(left, left + crop))
    panels = [
        labelled(bicubic[window], f'bicubic {calculate_psnr(bicubic, hr, scale, test_y_channel=True):.2f} dB', zoom),
        labelled(sr[window], f'AIDN {calculate_psnr(sr, hr, scale, test_y_channel=True):.2f} dB', zoom),
        labelled(hr[window], 'HR', zoom),
    ]
    gap = np.full((panels[0].shape[0], 6, 3), 255, np.uint8)
    return np.hstack([panels[0], gap, panels[1], gap, panels[2]])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--weights', required=True, help='AIDN checkpoint')
    parser.add_argument('--pair', nargs=2, action='append', required=True, metavar=('HR', 'LR'),
                        help='an HR image and its LR; repeat for more rows')
    parser.add_argument('--crop', type=int, default=96, help='crop side in HR pixels (default 96)')
    parser.add_argument('--zoom', type=int, default=2, help='nearest-neighbour zoom of the crops (default 2)')
    parser.add_argument('-o', '--output', required=True, help='PNG to write')
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.weights)
    rows = [figure_row(model, hr, lr, args.crop, args.zoom) for hr, lr in args.pair]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    from aidn_plugin.utils.image_io import write_png
    write_png(args.output, np.vstack(rows))  # the package's atomic writer
    print(f'wrote {args.output}')


if __name__ == '__main__':
    main()
