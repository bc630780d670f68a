"""Y-PSNR of the int8 ONNX model against fp32 (ONNX Runtime and torch) on the x4 benchmark sets, one JSON.

    python -m scripts.bench.int8_quality                             # Set5, Set14, B100; the default int8
    python -m scripts.bench.int8_quality --variant default= --variant entropy=entropy --variant all-ops=minmax::all

Through the package's own API, as ``aidn export onnx --int8`` and ``aidn upscale`` do it: the zoo model
(``--model``, default ``aidn_x4``), fused, is exported with ``inference.onnx_export.export_onnx``; each
variant is quantized with ``inference.onnx_quantize.quantize_int8`` calibrated on the command's default
images (scikit-image's photographs minus the held-out ones, ``split_held_out``); every LR image of
``<data>/<set>/LR_bicubic/X4`` is upscaled whole (``inference.tiling.upscale_image``, tile 0) by torch fp32,
ONNX Runtime fp32 and each int8 variant, and compared with its mod-cropped HR by BasicSR's
``calculate_psnr`` (Y channel, border 4). The benchmark data is read here only, never by tests.

Variants: ``NAME=METHOD[:EXCLUDE,...][:OPS][:WEIGHTS][:PATCH]`` with METHOD ``minmax`` / ``entropy`` /
``percentile``, EXCLUDE from ``onnx_quantize.EXCLUDABLE`` (empty: none), OPS a comma list of ONNX op types
to quantize or ``all`` (empty: ``onnx_quantize.DEFAULT_OP_TYPES``), WEIGHTS ``int7`` / ``int8`` / ``uint8``
(empty: ``onnx_quantize.DEFAULT_WEIGHTS``), PATCH the largest LR side of a calibration input (empty:
``onnx_quantize.DEFAULT_PATCH``). ``NAME=`` alone is the default int8 of ``aidn export onnx --int8``.

Options: ``--sets`` (Set5 Set14 B100), ``--data`` (datasets), ``--model`` (aidn_x4), ``--variant`` (repeatable;
default ``default=``), ``--threads`` (ONNX Runtime and torch threads, default 1), ``--out``
(benchmarks/int8_quality.json, written atomically with the package's writer).
"""
import argparse
import glob
import os
import sys
import tempfile
import time

from scripts.bench.report_io import machine_info, write_json_atomic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_variant(text):
    from aidn_plugin.inference import onnx_quantize
    name, _, spec = text.partition('=')
    parts = (spec.split(':') + ['', '', '', '', ''])[:5]
    method = parts[0] or onnx_quantize.DEFAULT_METHOD
    exclude = tuple(p for p in parts[1].split(',') if p)
    ops = onnx_quantize.DEFAULT_OP_TYPES if not parts[2] else (() if parts[2] == 'all' else tuple(parts[2].split(',')))
    return name or 'default', {'method': method, 'exclude': exclude, 'op_types': ops,
                               'weights': parts[3] or onnx_quantize.DEFAULT_WEIGHTS,
                               'patch': int(parts[4] or onnx_quantize.DEFAULT_PATCH)}


def set_pairs(data, name, scale):
    hr_files = sorted(glob.glob(os.path.join(data, name, 'HR', '*.png')))
    lr_folder = os.path.join(data, name, 'LR_bicubic', f'X{scale}')
    pairs = []
    for hr in hr_files:
        stem = os.path.splitext(os.path.basename(hr))[0]
        candidates = glob.glob(os.path.join(lr_folder, stem + '*.png'))
        if candidates:
            pairs.append((hr, sorted(candidates)[0]))
    if not pairs:
        raise SystemExit(f'{name}: no HR/LR pairs under {os.path.join(data, name)}')
    return pairs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sets', nargs='+', default=['Set5', 'Set14', 'B100'])
    parser.add_argument('--data', default=os.path.join(ROOT, 'datasets'))
    parser.add_argument('--model', default='aidn_x4')
    parser.add_argument('--variant', action='append', default=None)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--out', default=os.path.join(ROOT, 'benchmarks', 'int8_quality.json'))
    args = parser.parse_args(argv)

    import cv2
    import numpy as np
    import torch

    import aidn_plugin  # noqa: F401  (its compat layer before BasicSR)
    from basicsr.metrics import calculate_psnr

    from aidn_plugin import zoo
    from aidn_plugin.inference import onnx_quantize, ort_runtime
    from aidn_plugin.inference.onnx_export import export_onnx
    from aidn_plugin.inference.tiling import upscale_image
    from aidn_plugin.utils.bicubic import mod_crop

    torch.set_num_threads(args.threads)
    variants = dict(parse_variant(v) for v in (args.variant or ['default=']))
    model = zoo.load_model(args.model, fuse=True).eval()
    scale = model.upscale
    calibration, held_out = onnx_quantize.split_held_out(onnx_quantize.default_calibration_images())
    report = {'machine': machine_info(args.threads),
              'command': 'python -m scripts.bench.int8_quality ' + ' '.join(argv if argv is not None else sys.argv[1:]),
              'model': args.model, 'scale': scale,
              'calibration': {'images': [os.path.basename(p) for p in calibration],
                              'held_out': [os.path.basename(p) for p in held_out]},
              'metric': 'BasicSR calculate_psnr, Y channel, crop border = scale; whole-image inference (tile 0)',
              'variants': {}, 'sets': {}}
    with tempfile.TemporaryDirectory() as work:
        fp32_path = os.path.join(work, 'fp32.onnx')
        export_onnx(model, fp32_path)
        runners = {'torch_fp32': model, 'ort_fp32': ort_runtime.load(fp32_path, args.threads)}
        for name, options in variants.items():
            path = os.path.join(work, f'int8_{name}.onnx')
            start = time.perf_counter()
            info = onnx_quantize.quantize_int8(fp32_path, path, calibration, scale, **options)
            int8 = ort_runtime.load(path, args.threads)
            runners[f'int8_{name}'] = int8
            report['variants'][name] = {
                'method': options['method'], 'exclude': list(options['exclude']),
                'op_types': list(options['op_types']) or 'all', 'weights': options['weights'],
                'excluded_nodes': info['excluded_nodes'],
                'quantize_seconds': round(time.perf_counter() - start, 1),
                'held_out_check': onnx_quantize.measure_quality(runners['ort_fp32'], int8, held_out, scale)}
            print(f'{name}: quantized ({report["variants"][name]["held_out_check"]})', flush=True)
        for set_name in args.sets:
            psnr = {key: [] for key in runners}
            for hr_path, lr_path in set_pairs(args.data, set_name, scale):
                hr = mod_crop(cv2.imread(hr_path, cv2.IMREAD_COLOR), scale)
                lr = cv2.imread(lr_path, cv2.IMREAD_COLOR)
                for key, runner in runners.items():
                    sr = upscale_image(runner, lr, tile=0)
                    psnr[key].append(calculate_psnr(sr, hr, crop_border=scale, test_y_channel=True))
            means = {key: round(float(np.mean(values)), 4) for key, values in psnr.items()}
            entry = {'images': len(psnr['torch_fp32']), 'y_psnr_db': means,
                     'int8_change_vs_ort_fp32_db': {k[5:]: round(v - means['ort_fp32'], 4)
                                                    for k, v in means.items() if k.startswith('int8_')},
                     'ort_fp32_change_vs_torch_db': round(means['ort_fp32'] - means['torch_fp32'], 4)}
            report['sets'][set_name] = entry
            print(set_name, entry, flush=True)
    write_json_atomic(args.out, report)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
