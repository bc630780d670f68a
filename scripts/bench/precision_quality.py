"""What reduced precision costs the zoo's weights: Y-PSNR on the benchmark sets in every runtime and precision.

    python -m scripts.bench.precision_quality                              # every zoo model: bf16 in torch and OpenVINO
    python -m scripts.bench.precision_quality --write-zoo                  # and record the bf16 changes in the zoo table
    python -m scripts.bench.precision_quality --models aidn_x4 --int8 --out /tmp/int8.json   # and int8 (ONNX Runtime)

As ``aidn upscale`` runs it, each zoo model, fused, upscales every LR image of ``<data>/<set>/LR_bicubic/X<s>``
whole (``upscale_image``, tile 0) as ``torch_fp32`` (the reference), ``torch_bf16`` (under ``torch.autocast``,
as ``--precision bf16``), ``openvino_fp32`` and ``openvino_bf16`` (converted in memory by
``ov_runtime.convert``, as ``--backend openvino -m``; skipped without the extra) and, with ``--int8``,
``ort_fp32`` and ``ort_int8`` (the files ``aidn export onnx [--int8]`` writes, run by ONNX Runtime). Each
result against the mod-cropped HR by BasicSR's ``calculate_psnr`` (Y channel, border = scale); per set the
JSON keeps every runner's mean and its change against its fp32 reference (torch's; ONNX Runtime fp32's for
int8), the command and the CPU's model and flags. ``--write-zoo`` puts each measured model's
``bf16_psnr_change`` ({backend: {set: dB}}, what ``--precision auto`` reads) and the evidence's path into the
zoo table; ``tests/test_evidence.py`` checks the table against this JSON.

Options: ``--models`` (every zoo entry), ``--sets`` (Set5 Set14 B100), ``--data`` (datasets, holding
``<set>/HR`` and ``<set>/LR_bicubic/X<s>``; a folder outside the repository is recorded as ``DATASETS``),
``--int8``, ``--threads`` (2), ``--out`` (benchmarks/precision_quality.json), ``--write-zoo``.
"""
import argparse
import glob
import os
import sys
import tempfile

from scripts.bench.report_io import machine_info, write_json_atomic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZOO_TABLE = os.path.join(ROOT, 'aidn_plugin', 'zoo', 'weights', 'published.json')
REFERENCES = {'torch_bf16': 'torch_fp32', 'openvino_fp32': 'torch_fp32', 'openvino_bf16': 'torch_fp32',
              'ort_int8': 'ort_fp32'}


def set_pairs(data, name, scale):
    """(HR, LR) paths of every HR image of a set (its LR ``LR_bicubic/X<s>/<stem>x<s>.png``); one missing, and none, stop."""
    hr_files = sorted(glob.glob(os.path.join(data, name, 'HR', '*.png')))
    pairs = [(hr, os.path.join(data, name, 'LR_bicubic', f'X{scale}', os.path.basename(hr)[:-4] + f'x{scale}.png'))
             for hr in hr_files]
    missing = [lr for _, lr in pairs if not os.path.isfile(lr)] if pairs else [os.path.join(data, name, 'HR', '*.png')]
    if missing:
        raise SystemExit(f'{name}: {missing[0]} not found')
    return pairs


def build_runners(model, args, work):
    """{runner name: (model, autocast mode)} for one zoo model (autocast as ``aidn upscale --precision`` sets it)."""
    from aidn_plugin.inference import onnx_quantize, ort_runtime
    from aidn_plugin.inference.onnx_export import export_onnx
    runners = {'torch_fp32': (model, 'none'), 'torch_bf16': (model, 'bf16')}
    try:
        from aidn_plugin.inference import ov_runtime
        for precision in ('fp32', 'bf16'):
            runners[f'openvino_{precision}'] = (ov_runtime.convert(model, args.threads, precision), 'none')
    except ov_runtime.MissingRuntimeError as error:
        print(f'skipping OpenVINO: {error}', flush=True)
    if args.int8:  # the files aidn export onnx [--int8] writes
        fp32_path, int8_path = os.path.join(work, 'fp32.onnx'), os.path.join(work, 'int8.onnx')
        export_onnx(model, fp32_path)
        calibration = onnx_quantize.split_held_out(onnx_quantize.default_calibration_images())[0]
        onnx_quantize.quantize_int8(fp32_path, int8_path, calibration, model.upscale)
        runners.update(ort_fp32=(ort_runtime.load(fp32_path, args.threads), 'none'),
                       ort_int8=(ort_runtime.load(int8_path, args.threads), 'none'))
    return runners


def measure(name, args):
    """The report of one zoo model: per set every runner's mean Y-PSNR and its change against its reference."""
    import cv2
    import numpy as np
    from basicsr.metrics import calculate_psnr

    from aidn_plugin import zoo
    from aidn_plugin.inference.tiling import upscale_image
    from aidn_plugin.utils import amp
    from aidn_plugin.utils.bicubic import mod_crop
    model = zoo.load_model(name, fuse=True).eval()
    scale = model.upscale
    report = {'scale': scale, 'file': zoo.get_entry(name).filename, 'sets': {}}
    with tempfile.TemporaryDirectory() as work:
        runners = build_runners(model, args, work)
        for set_name in args.sets:
            psnr = {key: [] for key in runners}
            for hr_path, lr_path in set_pairs(args.data, set_name, scale):
                hr = mod_crop(cv2.imread(hr_path, cv2.IMREAD_COLOR), scale)
                lr = cv2.imread(lr_path, cv2.IMREAD_COLOR)
                for key, (runner, mode) in runners.items():
                    with amp.autocast(mode, 'cpu'):
                        sr = upscale_image(runner, lr, tile=0)
                    psnr[key].append(calculate_psnr(sr, hr, crop_border=scale, test_y_channel=True))
            means = {key: round(float(np.mean(values)), 4) for key, values in psnr.items()}
            report['sets'][set_name] = {
                'images': len(psnr['torch_fp32']), 'y_psnr_db': means,
                'change_db': {key: round(value - means[REFERENCES[key]], 4)
                              for key, value in means.items() if key in REFERENCES}}
            print(name, set_name, report['sets'][set_name]['change_db'], flush=True)
    return report


def bf16_changes(model_report):
    """{backend: {set: dB}} of the bf16 runners in one model's report."""
    sets = model_report['sets']
    return {backend: {name: entry['change_db'][f'{backend}_bf16'] for name, entry in sets.items()}
            for backend in ('torch', 'openvino') if all(f'{backend}_bf16' in e['change_db'] for e in sets.values())}


def markdown(report):
    """Per model and set: torch fp32 Y-PSNR and each other runner's change against its reference (dB)."""
    runners = list(dict.fromkeys(k for m in report['models'].values() for s in m['sets'].values()
                                 for k in s['change_db']))
    lines = ['| model | set | torch fp32 (dB) | ' + ' | '.join(r.replace('_', ' ') for r in runners) + ' |',
             '|---|---|---:|' + '---:|' * len(runners)]
    for name, model in report['models'].items():
        for set_name, entry in model['sets'].items():
            cells = [f'{entry["change_db"][r]:+.3f}' if r in entry['change_db'] else '-' for r in runners]
            lines.append(f'| {name} | {set_name} | {entry["y_psnr_db"]["torch_fp32"]:.3f} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def write_zoo(report, out, table_path=ZOO_TABLE):
    """Each measured model's ``bf16_psnr_change`` (and its evidence) into the zoo table, atomically."""
    import json

    from aidn_plugin.utils.atomic import write_text
    with open(table_path, encoding='utf-8') as handle:
        table = json.load(handle)
    for entry in table['weights']:
        model_report = report['models'].get(entry['name'])
        if model_report and model_report['file'] == entry['filename']:
            entry['bf16_psnr_change'] = bf16_changes(model_report)
            entry['bf16_evidence'] = os.path.relpath(os.path.abspath(out), ROOT)
    write_text(table_path, json.dumps(table, indent=2, ensure_ascii=False) + '\n')


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m scripts.bench.precision_quality',
                                     description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', default=None, help='zoo names; default every entry')
    parser.add_argument('--sets', nargs='+', default=['Set5', 'Set14', 'B100'])
    parser.add_argument('--data', default=os.path.join(ROOT, 'datasets'))
    parser.add_argument('--int8', action='store_true', help='also ONNX Runtime fp32 and int8')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--out', default=os.path.join(ROOT, 'benchmarks', 'precision_quality.json'))
    parser.add_argument('--write-zoo', action='store_true', help="record the bf16 changes in the zoo table")
    args = parser.parse_args(argv)
    import torch

    import aidn_plugin  # noqa: F401  (its compat layer before BasicSR)
    from aidn_plugin import zoo
    torch.set_num_threads(args.threads)
    given = list(sys.argv[1:] if argv is None else argv)
    if '--data' in given and not os.path.abspath(args.data).startswith(ROOT + os.sep):
        given[given.index('--data') + 1] = 'DATASETS'  # a folder outside the repository: named by its role
    report = {'machine': machine_info(args.threads),
              'command': 'python -m scripts.bench.precision_quality ' + ' '.join(given),
              'metric': 'BasicSR calculate_psnr, Y channel, crop border = scale; whole-image inference (tile 0)',
              'models': {name: measure(name, args) for name in (args.models or sorted(zoo.ZOO))}}
    write_json_atomic(args.out, report)
    print(f'wrote {args.out}')
    if args.write_zoo:
        write_zoo(report, args.out)
        print(f'recorded the bf16 changes in {ZOO_TABLE}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
