"""bf16 AMP against fp32 on the CPU: the demo training in both precisions, and bf16 inference, one JSON.

    python -m scripts.bench.amp_demo                   # the full demo schedule (1,500 iterations)
    python -m scripts.bench.amp_demo --iters 750       # a shortened schedule (cosine period shortened too)
    python -m scripts.bench.amp_demo --no-train        # the inference part only

Training: ``basicsr train -opt options/train_AIDN_x4_demo.yml`` through the real console script, once with
``train:amp=none`` and once with ``train:amp=bf16``, one after the other (never at once: the CPU is the
shared resource being measured), ``OMP_NUM_THREADS`` = ``--threads``, each in its own folder under
``--work`` (default: a temporary folder, removed afterwards). The dataroots are given as absolute paths
through ``--force_yml`` so the runs can stand outside the repository. Recorded for each: the final
validation Y-PSNR (the log's last ``# psnr``), every validation on the way, the wall time of the command
and the seconds per iteration. Validation runs in fp32 in both (``val.amp`` is left at its default).

Inference (skipped with ``--no-inference``): the shipped ``aidn_x4`` weights, fused; latency of one forward
pass at ``--size`` output (default 1280x720) in fp32 and in bf16 under autocast (median of ``--repeats``
after one warm-up, interleaved); and ``aidn upscale --precision fp32`` / ``--precision bf16`` on the demo
validation LR images through the real console script, compared by Y-PSNR (crop 4, BasicSR's metric).

Options: ``--iters`` (default 1500; below 1500 the cosine period and the validation interval follow),
``--threads`` (1), ``--repeats`` (5), ``--size WxH`` (1280x720), ``--no-train``, ``--no-inference``,
``--work DIR`` (kept when given), ``--out FILE`` (benchmarks/amp_demo.json; written atomically; a part
not run this time is kept from an existing file).
"""
import argparse
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DEMO_OPTIONS = os.path.join('options', 'train_AIDN_x4_demo.yml')
DEMO_ITERS = 1500
DEMO = os.path.join(ROOT, 'datasets', 'demo')
TARGET_DB = 0.1  # issue 13: bf16 within 0.1 dB of fp32


def _console(name):
    path = os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(path):
        raise SystemExit(f'scripts.bench.amp_demo: console script {name!r} not found next to {sys.executable}; '
                         'install the project first (pip install -e .)')
    return path


def _env(threads):
    return dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONWARNINGS='ignore')


def train_command(mode, iters):
    """The ``basicsr train`` argument list of one run (relative to the repository for the record)."""
    force = [f'name=amp_demo_{mode}', f'train:amp={mode}',
             f'datasets:train:dataroot_gt={DEMO}/train/HR',
             f'datasets:val:dataroot_gt={DEMO}/val/HR', f'datasets:val:dataroot_lq={DEMO}/val/LR_bicubic/X4']
    if iters != DEMO_ITERS:
        # a shortened schedule keeps the demo's shape: one cosine period over the run, three validations
        force += [f'train:total_iter={iters}', f'train:scheduler:periods=[{iters}]',
                  f'val:val_freq={max(iters // 3, 1)}', f'logger:save_checkpoint_freq={iters}']
    return ['basicsr', 'train', '-opt', os.path.join(ROOT, DEMO_OPTIONS), '--force_yml', *force]


def run_training(mode, iters, threads, work):
    folder = os.path.join(work, mode)
    os.makedirs(folder, exist_ok=True)
    command = train_command(mode, iters)
    print(f'[train {mode}] {" ".join(command)}', flush=True)
    start = time.perf_counter()
    result = subprocess.run([_console('basicsr')] + command[1:], cwd=folder, env=_env(threads),
                            capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f'scripts.bench.amp_demo: basicsr train ({mode}) failed with exit code {result.returncode}: '
                         f'{result.stderr.strip()[-2000:]}')
    logs = sorted(glob.glob(os.path.join(folder, 'experiments', f'amp_demo_{mode}', 'train_*.log')))
    log = open(logs[-1], encoding='utf-8').read()
    # BasicSR logs "Validation demo_val" then "# psnr: X" for each validation; the last one is the final
    psnrs = [float(v) for v in re.findall(r'# psnr: ([0-9.]+)', log)]
    ssims = [float(v) for v in re.findall(r'# ssim: ([0-9.]+)', log)]
    losses = [float(v) for v in re.findall(r'l_pix: ([0-9.e+-]+)', log)]
    entry = {
        'command': ' '.join(command).replace(ROOT + os.sep, ''),
        'iterations': iters,
        'final_psnr_y': psnrs[-1],
        'final_ssim_y': ssims[-1] if ssims else None,
        'validation_psnr_y': psnrs,
        'logged_l_pix': losses,
        'wall_s': round(wall, 1),
        's_per_iter': round(wall / iters, 4),
    }
    print(f'[train {mode}] final Y-PSNR {entry["final_psnr_y"]:.4f} dB in {wall:.0f} s', flush=True)
    return entry


def _parse_size(text):
    width, height = (int(v) for v in text.lower().split('x'))
    return width, height


def measure_latency(size, repeats, threads):
    """Median forward time (s) of the fused aidn_x4 in fp32 and bf16 autocast, interleaved."""
    import torch

    from aidn_plugin import zoo
    from aidn_plugin.utils import amp
    torch.set_num_threads(threads)
    model = zoo.load_model('aidn_x4', fuse=True, device='cpu')
    width, height = size
    x = torch.rand(1, 3, height // 4, width // 4, generator=torch.Generator().manual_seed(0))
    samples = {'fp32': [], 'bf16': []}

    def once(mode):
        with torch.inference_mode(), amp.autocast({'fp32': 'none'}.get(mode, mode), 'cpu'):
            start = time.perf_counter()
            model(x)
            return time.perf_counter() - start

    for mode in samples:
        once(mode)  # warm-up
    for index in range(repeats):
        for mode in (('fp32', 'bf16') if index % 2 == 0 else ('bf16', 'fp32')):
            samples[mode].append(once(mode))
    medians = {mode: statistics.median(values) for mode, values in samples.items()}
    return {
        'model': 'aidn_x4 (fused)', 'output_size': f'{width}x{height}', 'threads': threads, 'repeats': repeats,
        'median_s': {mode: round(value, 4) for mode, value in medians.items()},
        'bf16_over_fp32': round(medians['bf16'] / medians['fp32'], 2),
    }


def compare_upscale(threads, work):
    """``aidn upscale`` fp32 and bf16 on the demo validation LR images; Y-PSNR of bf16 against fp32."""
    import cv2
    from basicsr.metrics import calculate_psnr
    inputs = os.path.join(DEMO, 'val', 'LR_bicubic', 'X4')
    commands, outputs = {}, {}
    for precision in ('fp32', 'bf16'):
        outputs[precision] = os.path.join(work, f'upscale_{precision}')
        command = ['aidn', 'upscale', inputs, '-o', outputs[precision], '-m', 'aidn_x4', '--device', 'cpu',
                   '--precision', precision, '--force', '-q']
        result = subprocess.run([_console('aidn')] + command[1:], env=_env(threads), capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f'scripts.bench.amp_demo: aidn upscale --precision {precision} failed: {result.stderr.strip()}')
        commands[precision] = ' '.join(command).replace(ROOT + os.sep, '').replace(work + os.sep, '<work>/')
    psnr = {}
    for name in sorted(os.listdir(outputs['fp32'])):
        reference = cv2.imread(os.path.join(outputs['fp32'], name))
        candidate = cv2.imread(os.path.join(outputs['bf16'], name))
        psnr[name] = round(float(calculate_psnr(candidate, reference, crop_border=4, test_y_channel=True)), 2)
    return {'commands': commands, 'psnr_y_bf16_vs_fp32': psnr, 'min_psnr_y': min(psnr.values())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--iters', type=int, default=DEMO_ITERS)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--size', type=_parse_size, default=(1280, 720))
    parser.add_argument('--no-train', action='store_true')
    parser.add_argument('--no-inference', action='store_true')
    parser.add_argument('--work', default=None)
    parser.add_argument('--out', default=os.path.join(ROOT, 'benchmarks', 'amp_demo.json'))
    args = parser.parse_args(argv)
    if args.iters < 3:
        parser.error('--iters: expected at least 3')

    import aidn_plugin  # noqa: F401
    from aidn_plugin.utils.atomic import write_text
    from scripts.bench.report_io import machine_info

    report = {}
    if os.path.exists(args.out):
        with open(args.out, encoding='utf-8') as handle:
            report = json.load(handle)
    report['machine'] = machine_info(args.threads)
    work = args.work or tempfile.mkdtemp(prefix='amp_demo_')
    try:
        if not args.no_train:
            runs = {mode: run_training(mode, args.iters, args.threads, work) for mode in ('none', 'bf16')}
            difference = runs['bf16']['final_psnr_y'] - runs['none']['final_psnr_y']
            report['training'] = {
                'schedule': 'demo' if args.iters == DEMO_ITERS else f'shortened: {args.iters} of {DEMO_ITERS}',
                'fp32': runs['none'], 'bf16': runs['bf16'],
                'bf16_minus_fp32_db': round(difference, 4),
                'bf16_over_fp32_time': round(runs['bf16']['wall_s'] / runs['none']['wall_s'], 2),
                'target_db': TARGET_DB, 'target_met': abs(difference) <= TARGET_DB,
            }
            print(f'bf16 - fp32: {difference:+.4f} dB (target: within {TARGET_DB})', flush=True)
        if not args.no_inference:
            report['inference_latency'] = measure_latency(args.size, args.repeats, args.threads)
            report['inference_upscale'] = compare_upscale(args.threads, work)
            print(json.dumps({k: report[k] for k in ('inference_latency', 'inference_upscale')}, indent=2))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    write_text(args.out, json.dumps(report, indent=2) + '\n')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
