"""Equal-budget quality: networks trained through ``basicsr train`` with the same data, seeds, iterations,
batch, patch, optimizer and schedule, then Y-PSNR/SSIM at x4 through ``basicsr test``, mean +- sd over seeds.

    python -m scripts.bench.quality                                      # AIDN and SAFMN, seeds 0 1 2 (hours)
    python -m scripts.bench.quality --iters 12000 --seeds 0 --report-name quality_12k     # 4x schedule
    python -m scripts.bench.quality --models aidn aidn_noedge aidn_plain aidn_onetap aidn_noatt \
        --iters 1500 --report-name ablation                             # the ablation
    python -m scripts.bench.quality --no-train                           # only rebuild the table
    python -m scripts.bench.quality --iters 50000 --batch 64 --patch 192 --workers 8 --threads 8   # a GPU

A cell is one (network, seed, recipe) training and its test. A finished cell writes
``<cells-dir>/<experiment>.json`` (the evidence: commit it) and is skipped on the next run; an interrupted
one resumes from its last checkpoint in ``--work-dir`` (``--auto_resume``). ``train_seconds`` counts only
the run that finished the cell. Training: every image under ``--data`` at least ``--patch`` pixels (a
``meta_info`` file; ``EdgePairedImageDataset`` makes the LR on the fly with MATLAB-style bicubic), one option
file for every network except ``network_g``, ``name`` and the seed (L1, Adam betas 0.9/0.99, cosine decay,
random crops with flips and rotations), run through ``scripts/bench/quality_entry.py``. Test:
``net_g_latest.pth`` on ``<test-root>/<set>/HR`` against ``LR_bicubic/X4/<name>x4.png``, border 4.

Networks (``--models``), as ``scripts/bench/peers.py`` builds them: ``aidn``, ``aidn_light``, ``safmn``, ``span``,
``ecbsr``, ``srvgg``; AIDN's ablation, one constructor option each: ``aidn_noedge`` (``edge_input: false``),
``aidn_plain`` (``asymmetric: false``), ``aidn_onetap`` (``num_out: 1``), ``aidn_noatt`` (``attention:
none``); its edge designs: ``aidn_edgegate`` (``edge_guide: gate``), ``aidn_edgeloss`` (``EdgeAwareL1Loss``).
Results: ``<out-dir>/<report-name>.json`` and ``.md`` (``scripts/bench/quality_report.py``).

Options: ``--data DIR [DIR ...]``, ``--test-root DIR`` (``datasets`` in the repository), ``--sets`` (Set5
Set14 B100), ``--models`` (aidn safmn), ``--seeds`` (0 1 2), ``--iters`` (3000), ``--batch`` (16), ``--patch``
(HR crop, 128; a multiple of 4), ``--lr`` (1e-3, SAFMN's own), ``--eta-min`` (1e-6), ``--ema-decay`` (0),
``--workers`` (loader processes per GPU, 1), ``--enlarge`` (dataset_enlarge_ratio, 100), ``--checkpoint-every``
(500), ``--print-freq`` (100), ``--threads`` (OMP/MKL threads, 2), ``--num-gpu`` (``auto``: every GPU present),
``--work-dir`` (results/benchmark_quality), ``--cells-dir`` (benchmarks/quality_cells), ``--out-dir``
(benchmarks), ``--report-name`` (quality), ``--no-train``, ``--no-bicubic``, ``--quiet`` (BasicSR's output to
``<work-dir>/<cell>_<phase>.out``).
"""
import argparse
import os
import subprocess
import sys
import time

import yaml

from scripts.bench import peers
# markdown is re-exported: the docs' tables are checked against quality.markdown(report)
from scripts.bench.quality_report import SCALE, compare, markdown, summarize_cells  # noqa: F401
from scripts.bench.report_io import machine_info, write_json_atomic, write_text_atomic

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

NETWORKS = {name: peers.network_g(name, SCALE) for name in peers.NETWORK_G}
# Ablation variants of AIDN: each changes one option of the default network (see the benchmarks page's ablation).
ABLATIONS = {
    'aidn_noedge': {'edge_input': False},
    'aidn_plain': {'asymmetric': False},
    'aidn_onetap': {'num_out': 1},
    'aidn_noatt': {'attention': 'none'},
}
# Edge-guided variants (the edge issue): the edge map guiding every block, or an edge-aware loss.
EDGE_NETWORKS = {'aidn_edgegate': {'edge_guide': 'gate'}}
L1 = {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}
LOSSES = {'aidn_edgeloss': {'type': 'EdgeAwareL1Loss', 'loss_weight': 1.0, 'edge_weight': 1.0,
                            'edge_loss_weight': 0.0, 'edge_operator': 'sobel'}}
for _name, _change in dict(ABLATIONS, **EDGE_NETWORKS).items():
    NETWORKS[_name] = dict(NETWORKS['aidn'], **_change)
NETWORKS.update({_name: dict(NETWORKS['aidn']) for _name in LOSSES})
LABELS = {'aidn': 'AIDN (C32 B8 K3)', 'safmn': 'SAFMN (dim 36, 8 blocks)', 'span': 'SPAN (48 channels)',
          'ecbsr': 'ECBSR (M16C48)', 'srvgg': 'SRVGGNetCompact (48 feat, 16 conv)',
          'aidn_noedge': 'AIDN without the edge input', 'aidn_plain': 'AIDN, plain 3x3 units',
          'aidn_onetap': 'AIDN, one tap (no multi-residual fusion)', 'aidn_noatt': 'AIDN without block attention',
          'aidn_edgegate': 'AIDN, edge gate in every block', 'aidn_edgeloss': 'AIDN, edge-weighted L1 loss',
          'aidn_light': 'AIDN light (C32 B6 K1)'}
DEFAULT_MODELS = ('aidn', 'safmn')
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_DATA = os.path.join(REPO, 'datasets', 'train')
DEFAULT_TEST_ROOT = os.path.join(REPO, 'datasets')
# The settings that define one budget (cells are compared only within one).
RECIPE_KEYS = ('iters', 'batch', 'patch', 'lr', 'eta_min', 'ema_decay', 'enlarge')


class BenchmarkError(Exception):
    """A user mistake or a failed run, reported as one line."""


# ------------------------------------------------------------------------------------------------ data
def find_training_images(folders, min_size):
    """Images under ``folders`` (recursive) whose shorter side is at least ``min_size``.

    Returns (root, names, skipped): ``root`` the folders' common parent, ``names`` paths relative to it
    (sorted), ``skipped`` the relative paths of images too small for a crop.
    """
    from PIL import Image

    from aidn_plugin.utils.image_io import IMAGE_EXTENSIONS
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


def check_test_sets(test_root, sets, scale=SCALE):
    for name in sets:
        for sub in ('HR', os.path.join('LR_bicubic', f'X{scale}')):
            folder = os.path.join(test_root, name, sub)
            if not os.path.isdir(folder):
                raise BenchmarkError(f'--test-root {test_root}: {os.path.join(name, sub)} not found '
                                     f'(expected <set>/HR and <set>/LR_bicubic/X{scale}/<name>x{scale}.png)')


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
            'pixel_opt': dict(LOSSES.get(model, L1))},
        'logger': {'print_freq': args.print_freq, 'save_checkpoint_freq': args.checkpoint_every,
                   'use_tb_logger': False, 'wandb': {'project': None, 'resume_id': None}},
        'dist_params': {'backend': 'nccl', 'port': 29500},
    }


def test_options(model, args, checkpoint, test_root, sets):
    return evaluation_options('test_' + experiment_name(model, args), dict(NETWORKS[model]), checkpoint, test_root,
                              sets, SCALE, args.num_gpu, 'params_ema' if args.ema_decay > 0 else 'params',
                              seed=args.seed)


def evaluation_options(name, network_g, checkpoint, test_root, sets, scale, num_gpu=0, param_key='params', seed=0):
    """A ``basicsr test`` option file: ``checkpoint`` (a ``network_g`` net) on ``<test_root>/<set>/HR`` and
    ``LR_bicubic/X<scale>/<name>x<scale>.png`` of every set, Y-channel PSNR/SSIM with border = scale, each
    set's means written by ``MetricDumpModel`` to ``metrics_<set>.json``."""
    datasets = {}
    for index, set_name in enumerate(sets, 1):
        datasets[f'test_{index}'] = {
            'name': set_name, 'type': 'EdgePairedImageDataset', 'dataroot_gt': os.path.join(test_root, set_name, 'HR'),
            'dataroot_lq': os.path.join(test_root, set_name, 'LR_bicubic', f'X{scale}'),
            'filename_tmpl': '{}x%d' % scale, 'io_backend': {'type': 'disk'}}
    metric = {'crop_border': scale, 'test_y_channel': True}
    return {
        'name': name,
        'model_type': 'MetricDumpModel',
        'scale': scale,
        'num_gpu': num_gpu,
        'manual_seed': seed,
        'datasets': datasets,
        'network_g': network_g,
        'path': {'pretrain_network_g': checkpoint, 'param_key_g': param_key, 'strict_load_g': True},
        'val': {'save_img': False, 'suffix': None, 'metrics': {
            'psnr': dict(type='calculate_psnr', **metric), 'ssim': dict(type='calculate_ssim', **metric)}},
    }


def write_yaml(path, options):
    write_text_atomic(path, yaml.safe_dump(options, sort_keys=False, default_flow_style=False))


# ------------------------------------------------------------------------------------------------- runs
def run_basicsr(phase, option_file, work_dir, threads, log_name=None, extra=()):
    """``python -m scripts.bench.quality_entry <phase> -opt option_file`` in ``work_dir``; raises
    BenchmarkError on failure. Returns the wall time in seconds."""
    # the run's working folder is work_dir, so the repository goes on its module path explicitly
    path = os.pathsep.join(p for p in (REPO, os.environ.get('PYTHONPATH')) if p)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONPATH=path)
    command = [sys.executable, '-m', 'scripts.bench.quality_entry', phase, '-opt', option_file, *extra]
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
    from scripts.bench.bicubic import bicubic_scores
    out = {}
    for name in sets:
        psnr, ssim, rows = bicubic_scores(os.path.join(test_root, name, 'HR'),
                                          os.path.join(test_root, name, 'LR_bicubic', f'X{SCALE}'), SCALE,
                                          '{}x%d' % SCALE)
        out[name] = {'psnr': round(psnr, 4), 'ssim': round(ssim, 4), 'images': len(rows)}
    return out


def with_seed(args, seed):
    """A copy of the parsed arguments for one cell's ``seed``."""
    return argparse.Namespace(**dict(vars(args), seed=seed))


def recipe(args):
    """The settings that define a training budget: cells agree on all of them or are not compared."""
    return {key: getattr(args, key) for key in RECIPE_KEYS}


def cell_path(cells_dir, model, args):
    return os.path.join(cells_dir, experiment_name(model, args) + '.json')


def read_cells(cells_dir, wanted_recipe, models):
    """{model: {seed: cell}} of the finished cells in ``cells_dir`` trained with ``wanted_recipe``."""
    import json
    found = {}
    if not os.path.isdir(cells_dir):
        return found
    for name in sorted(os.listdir(cells_dir)):
        if not name.endswith('.json'):
            continue
        with open(os.path.join(cells_dir, name)) as handle:
            cell = json.load(handle)
        if cell.get('model') in models and cell.get('recipe') == wanted_recipe:
            found.setdefault(cell['model'], {})[cell['seed']] = cell
    return found


# ------------------------------------------------------------------------------------------------- main
def parse_args(argv):
    from aidn_plugin.cli.errors import OneLineParser
    parser = OneLineParser(prog='python -m scripts.bench.quality', description=__doc__.splitlines()[0])
    parser.add_argument('--data', nargs='+', default=[DEFAULT_DATA], help='folders of HR training images')
    parser.add_argument('--test-root', default=DEFAULT_TEST_ROOT, help='folder holding <set>/HR, <set>/LR_bicubic/X4')
    parser.add_argument('--sets', nargs='+', default=['Set5', 'Set14', 'B100'])
    parser.add_argument('--models', nargs='+', default=list(DEFAULT_MODELS), choices=list(NETWORKS))
    parser.add_argument('--iters', type=int, default=3000)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--patch', type=int, default=128, help='HR crop size (a multiple of 4)')
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--eta-min', type=float, default=1e-6)
    parser.add_argument('--seeds', type=int, nargs='+', default=list(DEFAULT_SEEDS))
    parser.add_argument('--ema-decay', type=float, default=0.)
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--enlarge', type=int, default=100)
    parser.add_argument('--checkpoint-every', type=int, default=500)
    parser.add_argument('--print-freq', type=int, default=100)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--num-gpu', default='auto', help="'auto' or a number (0 = CPU)")
    parser.add_argument('--work-dir', default=os.path.join(REPO, 'results', 'benchmark_quality'))
    parser.add_argument('--out-dir', default=os.path.join(REPO, 'benchmarks'))
    parser.add_argument('--cells-dir', default=os.path.join(REPO, 'benchmarks', 'quality_cells'),
                        help='one JSON per finished (network, seed, recipe) cell; finished cells are skipped')
    parser.add_argument('--report-name', default='quality', help='<out-dir>/<name>.json and .md')
    parser.add_argument('--no-train', action='store_true', help='only rebuild the table from finished cells')
    parser.add_argument('--no-bicubic', action='store_true')
    parser.add_argument('--quiet', action='store_true', help="BasicSR's output to files in --work-dir")
    args = parser.parse_args(argv)
    minimums = dict(iters=1, batch=1, patch=1, enlarge=1, checkpoint_every=1, print_freq=1, threads=1, workers=0)
    for key, minimum in minimums.items():
        if getattr(args, key) < minimum:
            parser.error(f'--{key.replace("_", "-")} must be at least {minimum}, got {getattr(args, key)}')
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
    # the runs stand in --work-dir, so relative folders are made absolute here, where they were given
    args.test_root = os.path.abspath(args.test_root)
    args.data = [os.path.abspath(folder) for folder in args.data]
    args.seeds = list(dict.fromkeys(args.seeds))
    return args


def run_cell(model, args, data_root, meta_info, work_dir, log):
    """Train and test one (network, seed) cell; returns its record (not yet written)."""
    options = train_options(model, args, data_root, meta_info)
    tag = f'{model}_s{args.seed}'
    option_file = os.path.join(work_dir, f'train_{tag}.yml')
    write_yaml(option_file, options)
    started = machine_info(args.threads)
    log(f'[{tag}] basicsr train -opt {option_file}')
    seconds = run_basicsr('train', option_file, work_dir, args.threads,
                          f'{tag}_train.out' if args.quiet else None, ('--auto_resume', ))
    checkpoint = os.path.join(work_dir, 'experiments', options['name'], 'models', 'net_g_latest.pth')
    if not os.path.isfile(checkpoint):
        raise BenchmarkError(f'basicsr train finished without writing {checkpoint}')
    test = test_options(model, args, checkpoint, args.test_root, args.sets)
    test_file = os.path.join(work_dir, f'test_{tag}.yml')
    write_yaml(test_file, test)
    log(f'[{tag}] basicsr test -opt {test_file}')
    run_basicsr('test', test_file, work_dir, args.threads, f'{tag}_test.out' if args.quiet else None)
    # parameters of the inference form (AIDN trains unfused and is evaluated so; fusing is exact)
    built = peers.from_options(NETWORKS[model])
    params = peers.inference_params(model, built.fuse() if NETWORKS[model]['type'] == 'AIDN' else built)
    load = os.getloadavg() if hasattr(os, 'getloadavg') else None
    return {'model': model, 'seed': args.seed, 'recipe': recipe(args), 'label': LABELS[model],
            'network_g': NETWORKS[model], 'params': params, 'experiment': options['name'],
            'train_seconds': round(seconds, 1), 'meta': dict(started, load_average_end=load and [round(v, 2) for v in load]),
            'sets': read_metrics(os.path.join(work_dir, 'results', test['name']), args.sets)}


def run(args, log=print):
    """Every missing (network, seed) cell, then the table of all finished cells of this recipe; returns
    the report dict (also written to --out-dir as <--report-name>.json/.md)."""
    check_test_sets(args.test_root, args.sets)
    data_root, names, skipped = find_training_images(args.data, args.patch)
    work_dir = os.path.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    meta_info = os.path.join(work_dir, 'meta_info_train.txt')
    write_text_atomic(meta_info, ''.join(f'{n}\n' for n in names))
    log(f'training data: {len(names)} images under {data_root} ({len(skipped)} smaller than the '
        f'{args.patch}-pixel patch left out)')
    cells_dir = os.path.abspath(args.cells_dir)
    for model in args.models:
        for seed in args.seeds:
            cell_args = with_seed(args, seed)
            path = cell_path(cells_dir, model, cell_args)
            if os.path.isfile(path):
                log(f'[{model}_s{seed}] done already: {path}')
                continue
            if args.no_train:
                continue
            record = run_cell(model, cell_args, data_root, meta_info, work_dir, log)
            record['data'] = {'images': len(names), 'skipped': len(skipped)}
            write_json_atomic(path, record)
            log(f'[{model}_s{seed}] wrote {path}')
    return write_report(args, data_root, names, skipped)


def _repo_relative(path):
    """``path`` relative to the repository when inside it (links not followed), else by its name alone."""
    path = os.path.abspath(path)
    if path.startswith(REPO + os.sep):
        return os.path.relpath(path, REPO)
    return f'{os.path.basename(path)} (outside the repository)'


def write_report(args, data_root, names, skipped):
    """The table of every finished cell of this recipe in --cells-dir (models in --models order)."""
    cells_dir = os.path.abspath(args.cells_dir)
    found = read_cells(cells_dir, recipe(args), args.models)
    report = {'meta': machine_info(args.threads), 'settings': dict(recipe(args), sets=args.sets),
              'cells_dir': os.path.relpath(cells_dir, REPO) if cells_dir.startswith(REPO) else cells_dir,
              'data': {'folders': [_repo_relative(folder) for folder in args.data], 'images': len(names),
                       'skipped': skipped,
                       'description': ', '.join(sorted({n.split(os.sep)[0] for n in names if os.sep in n}))
                       or 'images'},
              'models': {}}
    for model in args.models:
        cells = found.get(model)
        if not cells:
            continue
        first = cells[min(cells)]
        report['models'][model] = {
            'label': LABELS[model], 'network_g': NETWORKS[model], 'params': first['params'],
            'sets': summarize_cells(cells, args.sets),
            'seeds': {seed: {'sets': cell['sets'], 'train_seconds': cell['train_seconds'],
                             'experiment': cell['experiment'], 'date': cell['meta']['date']}
                      for seed, cell in sorted(cells.items())}}
    report['missing_cells'] = [f'{m} seed {s}' for m in args.models for s in args.seeds
                               if s not in found.get(m, {})]
    if not args.no_bicubic:
        report['bicubic'] = bicubic_metrics(args.test_root, args.sets)
    report['difference'], report['targets'] = compare(report, args.sets)
    write_json_atomic(os.path.join(args.out_dir, f'{args.report_name}.json'), report)
    write_text_atomic(os.path.join(args.out_dir, f'{args.report_name}.md'), markdown(report))
    return report


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import aidn_plugin  # noqa: F401  (compat layer; the dataset's image list uses its reader)
    from aidn_plugin.cli.errors import fail
    try:
        report = run(args)
    except BenchmarkError as error:
        fail(f'scripts.bench.quality: error: {error}')
    except OSError as error:
        fail(f'scripts.bench.quality: error: {error}')
    print(markdown(report))
    print(f'wrote {os.path.join(args.out_dir, args.report_name + ".json")} and {args.report_name}.md')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
