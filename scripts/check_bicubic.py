"""Check ``aidn prepare lr`` (aidn_plugin.prepare.bicubic) against the bicubic LR shipped with benchmark sets.

For each HR image of each set, the LR made by ``bicubic_downscale`` (and, for comparison, by BasicSR's
``imresize`` + rounding) is compared with the shipped ``LR_bicubic/X{s}/{name}x{s}.png``: share of
identical values, largest difference and Y-PSNR (BasicSR's ``calculate_psnr``, no border crop).

    python -m scripts.check_bicubic --root datasets --sets Set5 Set14 B100 --json benchmarks/bicubic_check.json
"""
import argparse
import os

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', default='datasets')
    parser.add_argument('--sets', nargs='+', default=['Set5', 'Set14'])
    parser.add_argument('--scales', nargs='+', type=int, default=[2, 3, 4])
    parser.add_argument('--json', help='also write the rows to this JSON file (atomically)')
    args = parser.parse_args()
    rows = []

    import aidn_plugin  # noqa: F401  (compat layer before BasicSR)
    from basicsr.metrics import calculate_psnr
    from basicsr.utils.matlab_functions import imresize

    from aidn_plugin.utils import image_io
    from aidn_plugin.utils.bicubic import bicubic_downscale, mod_crop

    print('| set | scale | images | ours: identical values | ours: max diff | ours: min Y-PSNR (dB) '
          '| BasicSR imresize: identical | BasicSR: min Y-PSNR (dB) |')
    print('|---|---|---|---|---|---|---|---|')
    for name in args.sets:
        hr_dir = os.path.join(args.root, name, 'HR')
        for scale in args.scales:
            same, total, max_diff, psnr, same_b, psnr_b = 0, 0, 0, [], 0, []
            files = image_io.list_images(hr_dir)
            for file in files:
                stem = os.path.splitext(file)[0]
                hr = mod_crop(image_io.read(os.path.join(hr_dir, file)), scale)
                lr = image_io.read(os.path.join(args.root, name, 'LR_bicubic', f'X{scale}', f'{stem}x{scale}.png'))
                ours = bicubic_downscale(hr, scale)
                theirs = np.clip(np.floor(imresize(hr.astype(np.float32), 1. / scale) + 0.5), 0, 255).astype(np.uint8)
                same += int((ours == lr).sum())
                same_b += int((theirs == lr).sum())
                total += lr.size
                max_diff = max(max_diff, int(np.abs(ours.astype(int) - lr).max()))
                psnr.append(calculate_psnr(ours, lr, 0, test_y_channel=True))
                psnr_b.append(calculate_psnr(theirs, lr, 0, test_y_channel=True))
            print(f'| {name} | x{scale} | {len(files)} | {100 * same / total:.3f} % | {max_diff} | {min(psnr):.2f} '
                  f'| {100 * same_b / total:.2f} % | {min(psnr_b):.2f} |')
            rows.append({'set': name, 'scale': scale, 'images': len(files), 'identical_share': same / total,
                         'max_diff': max_diff, 'min_y_psnr': min(psnr), 'basicsr_identical_share': same_b / total,
                         'basicsr_min_y_psnr': min(psnr_b)})
    if args.json:
        from scripts.bench.report_io import machine_info, write_json_atomic
        write_json_atomic(args.json, {'meta': machine_info(None), 'command': 'python -m scripts.check_bicubic '
                                      + ' '.join(f'--{k} {" ".join(map(str, v)) if isinstance(v, list) else v}'
                                                 for k, v in vars(args).items() if v is not None),
                                      'rows': rows})


if __name__ == '__main__':
    main()
