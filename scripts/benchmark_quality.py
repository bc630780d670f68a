"""Equal-budget quality: AIDN and SAFMN trained through ``basicsr train`` with the same data, seed,
iterations, batch, patch, optimizer and schedule, then Y-PSNR/SSIM at x4 through ``basicsr test``.

    python scripts/benchmark_quality.py                                  # CPU defaults, about an hour
    python scripts/benchmark_quality.py --iters 50000 --batch 64 --patch 192 --workers 8 --threads 8   # a GPU
    python scripts/benchmark_quality.py --iters 20 --out-dir /tmp/q      # a quick end-to-end check

What it does:

1. Training data: every image under the ``--data`` folders (searched recursively; default
   ``../shared/datasets/train``, i.e. T91 + BSD200, the classic 291 images), listed in a BasicSR
   ``meta_info`` file in the work folder; images smaller than ``--patch`` are left out (and listed in the
   JSON). No copies: ``EdgePairedImageDataset`` reads the HR images where they are and makes the LR on the
   fly with MATLAB-style bicubic (``dataroot_lq`` omitted).
2. One training option file per network, identical except ``network_g`` and ``name``: L1 loss, Adam
   (``--lr``, betas 0.9/0.99), cosine decay to ``--eta-min`` over ``--iters``, no warm-up, ``--batch``
   random ``--patch`` crops with flips and rotations, seed ``--seed``, EMA ``--ema-decay`` (0 = none: an
   EMA of 0.999 needs far more iterations than a CPU budget to leave its random start). SAFMN's own
   learning rate (1e-3) is the default, so the peer gets its published setting.
3. ``basicsr train`` for each network (``scripts/quality_entry.py``: the ``basicsr`` command plus SAFMN in
   BasicSR's registry), run in the work folder with ``--auto_resume``: an interrupted benchmark continues
   from its last checkpoint (every ``--checkpoint-every`` iterations) when rerun with the same settings.
4. ``basicsr test`` of each final ``net_g_latest.pth`` on ``--sets`` under ``--test-root``
   (``<set>/HR`` and ``<set>/LR_bicubic/X4/<name>x4.png``): Y-channel PSNR/SSIM, border crop 4.
5. Bicubic on the same sets (``scripts/bicubic_baseline.py``) as the floor.

Results: ``<out-dir>/quality.json`` and ``<out-dir>/quality.md`` (the table: both networks, their
difference, bicubic), written atomically. The training logs and checkpoints stay in ``--work-dir``.

Options: ``--data DIR [DIR ...]``, ``--test-root DIR``, ``--sets NAME [NAME ...]`` (Set5 Set14 B100),
``--models`` (aidn safmn), ``--iters`` (3000), ``--batch`` (16), ``--patch`` (HR crop, 128; a multiple of 4),
``--lr`` (1e-3), ``--eta-min`` (1e-6), ``--seed`` (0), ``--ema-decay`` (0), ``--workers`` (data loader
processes per GPU, 1), ``--enlarge`` (dataset_enlarge_ratio, 100: fewer epoch restarts), ``--checkpoint-every``
(500), ``--print-freq`` (100), ``--threads`` (OMP/MKL threads of the runs, 2), ``--num-gpu`` (``auto``: all
GPUs present, none on a CPU machine), ``--work-dir`` (results/benchmark_quality), ``--out-dir``
(benchmarks), ``--no-bicubic``, ``--quiet`` (BasicSR's output to ``<work-dir>/<name>_<phase>.out``
instead of the terminal).
"""
import os
import subprocess
import sys
import time

import yaml

SCRIPTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(SCRIPTS)
sys.path.insert(0, SCRIPTS)

from bench_io import machine_info, write_json_atomic, write_text_atomic  # noqa: E402

SCALE = 4
NETWORKS = {
    'aidn': {'type': 'AIDN', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 32, 'num_block': 8, 'upscale': SCALE,
             'num_out': 3, 'attention': 'cca', 'edge_operator': 'sobel'},
    'safmn': {'type': 'SAFMN', 'dim': 36, 'n_blocks': 8, 'ffn_scale': 2.0, 'upscaling_factor': SCALE},
}
LABELS = {'aidn': 'AIDN (C32 B8 K3)', 'safmn': 'SAFMN (dim 36, 8 blocks)'}
DEFAULT_DATA = os.path.join(REPO, '..', 'shared', 'datasets', 'train')
DEFAULT_TEST_ROOT = os.path.join(REPO, '..', 'shared', 'datasets')
TARGET_SETS = ('Set14', 'B100')  # the target: AIDN's Y-PSNR at least SAFMN's on these


class BenchmarkError(Exception):
    """A user mistake or a failed run, reported as one line."""


# ------------------------------------------------------------------------------------------------ data
def find_training_images(folders, min_size):
    """Images under ``folders`` (recursive) whose shorter side is at least ``min_size``.

    Returns (root, names, skipped): ``root`` the folders' common parent, ``names`` paths relative to it
    (sorted), ``skipped`` the relative paths of images too small for a crop.
    """
    from PIL import Image

    from aidn_plugin.imageio import IMAGE_EXTENSIONS
    found = []
    for folder in folders:
        if not os.path.isdir(folder):
            raise BenchmarkError(f'--data {folder}: not a folder')
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
            found += [os.path.join(dirpath, f) for f in filenames
                      if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith('.')]
    if not found:
        raise BenchmarkError(f'--data {" ".join(folders)}: no images found')
    found = sorted(set(os.path.realpath(p) for p in found))
    root = os.path.commonpath([os.path.dirname(p) for p in found])
    names, skipped = [], []
    for path in found:
        try:
            with Image.open(path) as image:
                size = min(image.size)
        except OSError as error:
            raise BenchmarkError(f'{path}: not a readable image ({error})') from None
        (names if size >= min_size else skipped).append(os.path.relpath(path, root))
    if not names:
        raise BenchmarkError(f'--data: no image is at least {min_size} pixels on its shorter side (--patch)')
    return root, names, skipped


def check_test_sets(test_root, sets):
    for name in sets:
        for sub in ('HR', os.path.join('LR_bicubic', f'X{SCALE}')):
            folder = os.path.join(test_root, name, sub)
            if not os.path.isdir(folder):
                raise BenchmarkError(f'--test-root {test_root}: {os.path.join(name, sub)} not found '
                                     f'(expected <set>/HR and <set>/LR_bicubic/X{SCALE}/<name>x{SCALE}.png)')


# --------------------------------------------------------------------------------------- option files
def experiment_name(model, args):
    """Names encode the recipe, so runs with other settings never resume each other's checkpoints."""
    return (f'bench_{model}_x{SCALE}_it{args.iters}_b{args.batch}_p{args.patch}_lr{args.lr:g}'
            f'_ema{args.ema_decay:g}_s{args.seed}')


def train_options(model, args, data_root, meta_info):
    return {
        'name': experiment_name(model, args),
        'model_type': 'MetricDumpModel',
        'scale': SCALE,
        'num_gpu': args.num_gpu,
        'manual_seed': args.seed,
        'datasets': {'train': {
            'name': 'train', 'type': 'EdgePairedImageDataset', 'dataroot_gt': data_root,
            'meta_info_file': meta_info, 'io_backend': {'type': 'disk'}, 'gt_size': args.patch,
            'use_hflip': True, 'use_rot': True, 'edge_operator': 'sobel',
            'num_worker_per_gpu': args.workers, 'batch_size_per_gpu': args.batch,
            'dataset_enlarge_ratio': args.enlarge, 'prefetch_mode': None}},
        'network_g': dict(NETWORKS[model]),
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {
            'ema_decay': args.ema_decay,
            'optim_g': {'type': 'Adam', 'lr': args.lr, 'weight_decay': 0, 'betas': [0.9, 0.99]},
            'scheduler': {'type': 'CosineAnnealingRestartLR', 'periods': [args.iters], 'restart_weights': [1],
                          'eta_min': args.eta_min},
            'total_iter': args.iters,
            'warmup_iter': -1,
            'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}},
        'logger': {'print_freq': args.print_freq, 'save_checkpoint_freq': args.checkpoint_every,
                   'use_tb_logger': False, 'wandb': {'project': None, 'resume_id': None}},
        'dist_params': {'backend': 'nccl', 'port': 29500},
    }


def test_options(model, args, checkpoint, test_root, sets):
    datasets = {}
    for index, name in enumerate(sets, 1):
        datasets[f'test_{index}'] = {
            'name': name, 'type': 'EdgePairedImageDataset', 'dataroot_gt': os.path.join(test_root, name, 'HR'),
            'dataroot_lq': os.path.join(test_root, name, 'LR_bicubic', f'X{SCALE}'),
            'filename_tmpl': '{}x%d' % SCALE, 'io_backend': {'type': 'disk'}}
    metric = {'crop_border': SCALE, 'test_y_channel': True}
    return {
        'name': 'test_' + experiment_name(model, args),
        'model_type': 'MetricDumpModel',
        'scale': SCALE,
        'num_gpu': args.num_gpu,
        'manual_seed': args.seed,
        'datasets': datasets,
        'network_g': dict(NETWORKS[model]),
        'path': {'pretrain_network_g': checkpoint, 'param_key_g': 'params_ema' if args.ema_decay > 0 else 'params',
                 'strict_load_g': True},
        'val': {'save_img': False, 'suffix': None, 'metrics': {
            'psnr': dict(type='calculate_psnr', **metric), 'ssim': dict(type='calculate_ssim', **metric)}},
    }


def write_yaml(path, options):
    write_text_atomic(path, yaml.safe_dump(options, sort_keys=False, default_flow_style=False))


# ------------------------------------------------------------------------------------------------- runs
def run_basicsr(phase, option_file, work_dir, threads, log_name=None, extra=()):
    """``quality_entry.py <phase> -opt option_file`` in ``work_dir``; raises BenchmarkError on failure.
    Returns the wall time in seconds."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    command = [sys.executable, os.path.join(SCRIPTS, 'quality_entry.py'), phase, '-opt', option_file, *extra]
    start = time.time()
    if log_name:
        log_path = os.path.join(work_dir, log_name)
        with open(log_path, 'w') as log:
            code = subprocess.call(command, cwd=work_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
        where = f'see {log_path}'
    else:
        code = subprocess.call(command, cwd=work_dir, env=env)
        where = 'see its output above'
    if code != 0:
        raise BenchmarkError(f'basicsr {phase} -opt {option_file} failed with exit code {code}; {where}')
    return time.time() - start


def read_metrics(results_root, sets):
    import json
    out = {}
    for name in sets:
        path = os.path.join(results_root, f'metrics_{name}.json')
        if not os.path.isfile(path):
            raise BenchmarkError(f'{path}: basicsr test wrote no metrics for {name}')
        with open(path) as handle:
            record = json.load(handle)
        out[name] = {'psnr': round(record['psnr'], 4), 'ssim': round(record['ssim'], 4), 'images': record['images']}
    return out


def bicubic_metrics(test_root, sets):
    from bicubic_baseline import bicubic_scores
    out = {}
    for name in sets:
        psnr, ssim, rows = bicubic_scores(os.path.join(test_root, name, 'HR'),
                                          os.path.join(test_root, name, 'LR_bicubic', f'X{SCALE}'), SCALE,
                                          '{}x%d' % SCALE)
        out[name] = {'psnr': round(psnr, 4), 'ssim': round(ssim, 4), 'images': len(rows)}
    return out


def compare(report, sets):
    """AIDN - SAFMN per set, and the issue's targets (Set14 and B100 Y-PSNR at least SAFMN's)."""
    models = report['models']
    if not ('aidn' in models and 'safmn' in models):
        return {}, {}
    difference = {name: {'psnr': round(models['aidn']['sets'][name]['psnr'] - models['safmn']['sets'][name]['psnr'], 4),
                         'ssim': round(models['aidn']['sets'][name]['ssim'] - models['safmn']['sets'][name]['ssim'], 4)}
                  for name in sets}
    targets = {f'{name} Y-PSNR, AIDN - SAFMN (dB)': {'value': difference[name]['psnr'], 'target': '>= 0',
                                                      'met': difference[name]['psnr'] >= 0}
               for name in TARGET_SETS if name in difference}
    return difference, targets


def markdown(report):
    meta, s = report['meta'], report['settings']
    sets = s['sets']
    lines = [
        f'Equal-budget training, measured {meta["date"]} on {meta["cpu"]} ({meta["logical_cores"]} logical cores, '
        f'shared), torch {meta["torch"]}, {s["threads"]} threads, num_gpu {s["num_gpu"]}. Both networks: '
        f'{report["data"]["images"]} training images ({report["data"]["description"]}), {s["iters"]} iterations, '
        f'batch {s["batch"]}, HR patch {s["patch"]} (LR {s["patch"] // SCALE}), flips/rotations, L1, Adam lr '
        f'{s["lr"]:g} (betas 0.9/0.99), cosine to {s["eta_min"]:g}, EMA {s["ema_decay"]:g}, seed {s["seed"]}. '
        f'Y-channel PSNR (dB) / SSIM at x{SCALE}, border {SCALE}.', '',
        '| network | params | ' + ' | '.join(sets) + ' | training time |',
        '|---|---:|' + '---:|' * len(sets) + '---:|',
    ]
    for name, entry in report['models'].items():
        cells = [f'{entry["sets"][k]["psnr"]:.2f} / {entry["sets"][k]["ssim"]:.4f}' for k in sets]
        lines.append(f'| {entry["label"]} | {entry["params"] / 1e3:.0f}K | ' + ' | '.join(cells) +
                     f' | {entry["train_seconds"] / 60:.1f} min |')
    if report.get('difference'):
        cells = [f'{report["difference"][k]["psnr"]:+.2f} / {report["difference"][k]["ssim"]:+.4f}' for k in sets]
        lines.append('| **AIDN - SAFMN** | | ' + ' | '.join(cells) + ' | |')
    if report.get('bicubic'):
        cells = [f'{report["bicubic"][k]["psnr"]:.2f} / {report["bicubic"][k]["ssim"]:.4f}' for k in sets]
        lines.append('| bicubic | 0 | ' + ' | '.join(cells) + ' | |')
    if report.get('targets'):
        lines += ['', '| target | measured | wanted | met |', '|---|---:|---:|---|']
        for key, t in report['targets'].items():
            lines.append(f'| {key} | {t["value"]:+.3f} | {t["target"]} | {"yes" if t["met"] else "**no**"} |')
    return '\n'.join(lines) + '\n'


# ------------------------------------------------------------------------------------------------- main
def parse_args(argv):
    from aidn_plugin.cli.errors import OneLineParser
    parser = OneLineParser(prog='benchmark_quality.py', description=__doc__.splitlines()[0])
    parser.add_argument('--data', nargs='+', default=[DEFAULT_DATA], help='folders of HR training images')
    parser.add_argument('--test-root', default=DEFAULT_TEST_ROOT, help='folder holding <set>/HR, <set>/LR_bicubic/X4')
    parser.add_argument('--sets', nargs='+', default=['Set5', 'Set14', 'B100'])
    parser.add_argument('--models', nargs='+', default=list(NETWORKS), choices=list(NETWORKS))
    parser.add_argument('--iters', type=int, default=3000)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--patch', type=int, default=128, help='HR crop size (a multiple of 4)')
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--eta-min', type=float, default=1e-6)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--ema-decay', type=float, default=0.)
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--enlarge', type=int, default=100)
    parser.add_argument('--checkpoint-every', type=int, default=500)
    parser.add_argument('--print-freq', type=int, default=100)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--num-gpu', default='auto', help="'auto' or a number (0 = CPU)")
    parser.add_argument('--work-dir', default=os.path.join(REPO, 'results', 'benchmark_quality'))
    parser.add_argument('--out-dir', default=os.path.join(REPO, 'benchmarks'))
    parser.add_argument('--no-bicubic', action='store_true')
    parser.add_argument('--quiet', action='store_true', help="BasicSR's output to files in --work-dir")
    args = parser.parse_args(argv)
    for key in ('iters', 'batch', 'patch', 'enlarge', 'checkpoint_every', 'print_freq', 'threads'):
        if getattr(args, key) < 1:
            parser.error(f'--{key.replace("_", "-")} must be at least 1, got {getattr(args, key)}')
    if args.workers < 0:
        parser.error(f'--workers must be 0 or more, got {args.workers}')
    if args.patch % SCALE:
        parser.error(f'--patch {args.patch} is not a multiple of the scale {SCALE}')
    if not 0 <= args.ema_decay < 1:
        parser.error(f'--ema-decay must be in [0, 1), got {args.ema_decay}')
    if args.lr <= 0 or args.eta_min < 0:
        parser.error('--lr must be positive and --eta-min not negative')
    if args.num_gpu != 'auto':
        try:
            args.num_gpu = int(args.num_gpu)
        except ValueError:
            parser.error(f"--num-gpu must be 'auto' or a number, got {args.num_gpu!r}")
    args.models = list(dict.fromkeys(args.models))
    args.sets = list(dict.fromkeys(args.sets))
    return args


def run(args, log=print):
    """The whole benchmark; returns the report dict (also written to --out-dir)."""
    import peers
    check_test_sets(args.test_root, args.sets)
    data_root, names, skipped = find_training_images(args.data, args.patch)
    work_dir = os.path.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    meta_info = os.path.join(work_dir, 'meta_info_train.txt')
    write_text_atomic(meta_info, ''.join(f'{n}\n' for n in names))
    log(f'training data: {len(names)} images under {data_root} ({len(skipped)} smaller than the '
        f'{args.patch}-pixel patch left out)')

    report = {'meta': machine_info(args.threads), 'settings': {
        key: getattr(args, key) for key in ('iters', 'batch', 'patch', 'lr', 'eta_min', 'seed', 'ema_decay',
                                            'workers', 'enlarge', 'threads', 'num_gpu', 'sets')},
        'data': {'root': os.path.abspath(data_root), 'images': len(names), 'skipped': skipped,
                 'description': ', '.join(sorted({n.split(os.sep)[0] for n in names if os.sep in n})) or 'images'},
        'models': {}}
    for model in args.models:
        options = train_options(model, args, data_root, meta_info)
        option_file = os.path.join(work_dir, f'train_{model}.yml')
        write_yaml(option_file, options)
        log(f'[{model}] basicsr train -opt {option_file}')
        seconds = run_basicsr('train', option_file, work_dir, args.threads,
                              f'{model}_train.out' if args.quiet else None, ('--auto_resume', ))
        checkpoint = os.path.join(work_dir, 'experiments', options['name'], 'models', 'net_g_latest.pth')
        if not os.path.isfile(checkpoint):
            raise BenchmarkError(f'basicsr train finished without writing {checkpoint}')
        test = test_options(model, args, checkpoint, args.test_root, args.sets)
        test_file = os.path.join(work_dir, f'test_{model}.yml')
        write_yaml(test_file, test)
        log(f'[{model}] basicsr test -opt {test_file}')
        run_basicsr('test', test_file, work_dir, args.threads, f'{model}_test.out' if args.quiet else None)
        # parameters of the inference form (AIDN trains unfused and is evaluated so; fusing is exact)
        deployed = 'aidn_fused' if model == 'aidn' else model
        report['models'][model] = {
            'label': LABELS[model], 'network_g': NETWORKS[model],
            'params': peers.inference_params(deployed, peers.build(deployed, SCALE)),
            'experiment': options['name'], 'train_seconds': round(seconds, 1),
            'sets': read_metrics(os.path.join(work_dir, 'results', test['name']), args.sets)}
    if not args.no_bicubic:
        report['bicubic'] = bicubic_metrics(args.test_root, args.sets)
    report['difference'], report['targets'] = compare(report, args.sets)
    load = os.getloadavg() if hasattr(os, 'getloadavg') else None
    report['meta']['load_average_end'] = [round(v, 2) for v in load] if load else None
    write_json_atomic(os.path.join(args.out_dir, 'quality.json'), report)
    write_text_atomic(os.path.join(args.out_dir, 'quality.md'), markdown(report))
    return report


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import aidn_plugin  # noqa: F401  (compat layer; the dataset's image list uses its reader)
    from aidn_plugin.cli.errors import fail
    try:
        report = run(args)
    except BenchmarkError as error:
        fail(f'benchmark_quality.py: error: {error}')
    except OSError as error:
        fail(f'benchmark_quality.py: error: {error}')
    print(markdown(report))
    print(f'wrote {os.path.join(args.out_dir, "quality.json")} and quality.md')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
