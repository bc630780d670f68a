"""What reduced precision costs the zoo's weights: Y-PSNR on the benchmark sets in every runtime and precision.

    python -m scripts.bench.precision_quality                              # every zoo model: bf16 in torch and OpenVINO
    python -m scripts.bench.precision_quality --write-zoo                  # and record the bf16 changes in the zoo table
    python -m scripts.bench.precision_quality --models aidn_x4 --variant default= --variant entropy=entropy \
        --out benchmarks/int8_quality.json                                 # int8 variants (ONNX Runtime)

Through the package's own API, as ``aidn upscale`` runs it: each zoo model (``--models``), fused, upscales
every LR image of ``<data>/<set>/LR_bicubic/X<s>`` whole (``inference.tiling.upscale_image``, tile 0) as

* ``torch_fp32`` (the reference) and ``torch_bf16`` (``torch.autocast`` bf16, what ``--precision bf16``
  runs: the edge map, attention statistics, fusion softmax and bicubic base stay fp32);
* ``openvino_fp32`` and ``openvino_bf16`` (the model converted in memory by ``inference.ov_runtime.convert``,
  as ``aidn upscale --backend openvino -m`` runs it; skipped without the openvino extra);
* with ``--variant``: ``ort_fp32`` and one int8 file per variant (``inference.onnx_quantize.quantize_int8``
  calibrated on scikit-image's photographs minus the held-out ones), run by ONNX Runtime. A variant is
  ``NAME=METHOD[:EXCLUDE,...][:OPS][:WEIGHTS][:PATCH]``: METHOD ``minmax`` / ``entropy`` / ``percentile``;
  EXCLUDE from ``onnx_quantize.EXCLUDABLE``; OPS a comma list of ONNX op types or ``all``; WEIGHTS ``int7``
  / ``int8`` / ``uint8``; PATCH the largest calibration LR side; empty parts take the defaults of ``aidn
  export onnx --int8`` (``NAME=`` alone is that default).

Each result is compared with the mod-cropped HR by BasicSR's ``calculate_psnr`` (Y channel, border = scale);
per set the JSON keeps every runner's mean and each one's change against its fp32 reference (torch's for
torch and OpenVINO, ONNX Runtime fp32's for int8). With ``--write-zoo`` each measured model's zoo entry
gets ``bf16_psnr_change`` ({backend: {set: dB}}), which ``aidn upscale --precision auto`` reads, and the
evidence file's path; ``tests/test_evidence.py`` checks the table against this JSON. The CPU's model and
flags are recorded: bf16 runs natively only with AVX-512 BF16 or AMX.

Options: ``--models`` (every zoo entry), ``--sets`` (Set5 Set14 B100), ``--data`` (datasets; a folder outside
the repository is recorded in the command as ``DATASETS``: the folder holding ``<set>/HR`` and
``<set>/LR_bicubic/X<s>``), ``--variant``
(repeatable; none by default), ``--threads`` (torch, OpenVINO and ONNX Runtime threads, 2), ``--out``
(benchmarks/precision_quality.json), ``--write-zoo`` (update ``aidn_plugin/zoo/weights/published.json``).
"""
import argparse
import glob
import os
import sys
import tempfile
import time

from scripts.bench.report_io import machine_info, write_json_atomic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZOO_TABLE = os.path.join(ROOT, 'aidn_plugin', 'zoo', 'weights', 'published.json')
REFERENCES = {'torch_bf16': 'torch_fp32', 'openvino_fp32': 'torch_fp32', 'openvino_bf16': 'torch_fp32'}


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


class Autocast:
    """A torch model run under ``torch.autocast`` (what ``aidn upscale --precision bf16`` does)."""

    def __init__(self, model, dtype):
        self.model, self.dtype = model, dtype
        self.upscale, self.num_in_ch = model.upscale, model.num_in_ch

    def __call__(self, x):
        import torch
        with torch.autocast('cpu', dtype=self.dtype):
            return self.model(x).float()

    def parameters(self):
        return self.model.parameters()

    def eval(self):
        return self


def build_runners(model, args, work, report):
    """{runner name: model} for one zoo model; quantizes the int8 variants (recorded in ``report``)."""
    import torch

    from aidn_plugin.inference import onnx_quantize, ort_runtime
    from aidn_plugin.inference.onnx_export import export_onnx
    runners = {'torch_fp32': model, 'torch_bf16': Autocast(model, torch.bfloat16)}
    try:
        from aidn_plugin.inference import ov_runtime
        for precision in ('fp32', 'bf16'):
            runners[f'openvino_{precision}'] = ov_runtime.convert(model, args.threads, precision)  # as the CLI
    except ov_runtime.MissingRuntimeError as error:
        print(f'skipping OpenVINO: {error}', flush=True)
    if args.variant:
        fp32_path = os.path.join(work, 'fp32.onnx')
        export_onnx(model, fp32_path)
        runners['ort_fp32'] = ort_runtime.load(fp32_path, args.threads)
        calibration, held_out = onnx_quantize.split_held_out(onnx_quantize.default_calibration_images())
        report['calibration'] = {'images': [os.path.basename(p) for p in calibration],
                                 'held_out': [os.path.basename(p) for p in held_out]}
        for name, options in dict(parse_variant(v) for v in args.variant).items():
            path = os.path.join(work, f'int8_{name}.onnx')
            start = time.perf_counter()
            info = onnx_quantize.quantize_int8(fp32_path, path, calibration, model.upscale, **options)
            runners[f'int8_{name}'] = ort_runtime.load(path, args.threads)
            REFERENCES[f'int8_{name}'] = 'ort_fp32'
            report['variants'][name] = {
                'method': options['method'], 'exclude': list(options['exclude']),
                'op_types': list(options['op_types']) or 'all', 'weights': options['weights'],
                'excluded_nodes': info['excluded_nodes'], 'quantize_seconds': round(time.perf_counter() - start, 1),
                'held_out_check': onnx_quantize.measure_quality(runners['ort_fp32'], runners[f'int8_{name}'],
                                                                held_out, model.upscale)}
    return runners


def measure(name, args):
    """The report of one zoo model: per set every runner's mean Y-PSNR and its change against its reference."""
    import cv2
    import numpy as np
    from basicsr.metrics import calculate_psnr

    from aidn_plugin import zoo
    from aidn_plugin.inference.tiling import upscale_image
    from aidn_plugin.utils.bicubic import mod_crop
    model = zoo.load_model(name, fuse=True).eval()
    scale = model.upscale
    report = {'scale': scale, 'file': zoo.get_entry(name).filename, 'variants': {}, 'sets': {}}
    with tempfile.TemporaryDirectory() as work:
        runners = build_runners(model, args, work, report)
        for set_name in args.sets:
            psnr = {key: [] for key in runners}
            for hr_path, lr_path in set_pairs(args.data, set_name, scale):
                hr = mod_crop(cv2.imread(hr_path, cv2.IMREAD_COLOR), scale)
                lr = cv2.imread(lr_path, cv2.IMREAD_COLOR)
                for key, runner in runners.items():
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
    changes = {}
    for set_name, entry in model_report['sets'].items():
        for backend in ('torch', 'openvino'):
            if f'{backend}_bf16' in entry['change_db']:
                changes.setdefault(backend, {})[set_name] = entry['change_db'][f'{backend}_bf16']
    return changes


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
    parser.add_argument('--variant', action='append', default=None, help='an int8 variant (repeatable)')
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
