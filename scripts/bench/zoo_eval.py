"""The evidence behind the zoo's figures: ``basicsr test`` of every published weight file on Set5, Set14
and B100, one JSON per entry.

    python -m scripts.bench.zoo_eval                         # every zoo entry -> benchmarks/zoo_eval/<name>.json
    python -m scripts.bench.zoo_eval --names aidn_x4 --test-root /data/benchmarks

Each entry's verified local file (packaged or cached; never downloaded), the network it holds
(``aidn_spec.resolve_arch``), the real ``basicsr test`` (``scripts.bench.quality_entry``) on
``<test-root>/<set>/HR`` against ``LR_bicubic/X<scale>/<name>x<scale>.png``, Y-channel PSNR/SSIM, border =
scale -> ``<out-dir>/<name>.json`` (file, sha256, per-set figures, command, date, machine, threads).
``tests/test_evidence.py`` checks the zoo tables against these files.

Options: ``--names`` (every entry), ``--test-root`` (``datasets`` in the repository), ``--sets`` (Set5 Set14
B100), ``--threads`` (2), ``--work-dir`` (results/zoo_eval), ``--out-dir`` (benchmarks/zoo_eval).
"""
import os
import sys

from scripts.bench.quality import (REPO, BenchmarkError, check_test_sets, evaluation_options, read_metrics,
                                   run_basicsr, write_yaml)
from scripts.bench.report_io import machine_info, write_json_atomic

DEFAULT_SETS = ('Set5', 'Set14', 'B100')


def evaluate_weights(path, name, scale, test_root, sets, work_dir, threads, tag, arch=None, num_gpu=0):
    """``basicsr test`` of the AIDN weight file ``path`` (``params_ema`` when it holds them, else ``params``)
    on ``sets`` under ``test_root``, run in ``work_dir`` as ``tag``; returns the evidence record of zoo entry
    ``name``. ``arch`` is the zoo entry's architecture record (None: read from the file). BenchmarkError, one
    line, when a set's ``HR`` or ``LR_bicubic/X<scale>`` folder is missing, before any run."""
    import torch

    from aidn_plugin.archs.aidn_spec import resolve_arch
    from aidn_plugin.zoo.checkpoints import read_checkpoint
    from aidn_plugin.zoo.registry import file_sha256
    check_test_sets(test_root, sets, scale)
    state_dict, stored = read_checkpoint(path)
    network_g = dict(type='AIDN', **resolve_arch(state_dict, stored, arch, source=os.fspath(path)))
    network_g['rgb_mean'] = [float(v) for v in network_g['rgb_mean']]
    key = 'params_ema' if 'params_ema' in torch.load(path, map_location='cpu', weights_only=True) else 'params'
    option_file = os.path.join(work_dir, f'{tag}.yml')
    write_yaml(option_file, evaluation_options(tag, network_g, os.path.abspath(path), os.path.abspath(test_root),
                                               list(sets), scale, num_gpu, key))
    meta = machine_info(threads)
    seconds = run_basicsr('test', option_file, work_dir, threads, log_name=f'{tag}.out')
    return {
        'name': name, 'scale': scale, 'filename': os.path.basename(path), 'sha256': file_sha256(path),
        'param_key': key, 'sets': read_metrics(os.path.join(work_dir, 'results', tag), sets),
        'test': f'basicsr test, Y-channel PSNR/SSIM (BasicSR calculate_psnr/calculate_ssim), border crop {scale}',
        'command': 'python -m scripts.bench.zoo_eval --names ' + name,
        'test_seconds': round(seconds, 1), 'meta': meta,
    }


def evaluate_entry(entry, test_root, sets, work_dir, threads):
    """``basicsr test`` of one zoo entry's verified local file; returns its evidence record."""
    from aidn_plugin.zoo.registry import ensure_local
    path = ensure_local(entry.name, allow_download=False)
    return evaluate_weights(path, entry.name, entry.scale, test_root, sets, work_dir, threads,
                            f'zoo_eval_{entry.name}', arch=entry.arch)


def parse_args(argv):
    from aidn_plugin.cli.errors import OneLineParser
    parser = OneLineParser(prog='python -m scripts.bench.zoo_eval', description=__doc__.splitlines()[0])
    parser.add_argument('--names', nargs='+', default=None, metavar='NAME', help='zoo entries (default: all)')
    parser.add_argument('--test-root', default=os.path.join(REPO, 'datasets'))
    parser.add_argument('--sets', nargs='+', default=list(DEFAULT_SETS))
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--work-dir', default=os.path.join(REPO, 'results', 'zoo_eval'))
    parser.add_argument('--out-dir', default=os.path.join(REPO, 'benchmarks', 'zoo_eval'))
    return parser.parse_args(argv)


def main(argv=None):
    import aidn_plugin  # noqa: F401  (compat layer)
    from aidn_plugin.cli.errors import fail
    from aidn_plugin.zoo.registry import get_entry, load_table
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        entries = [get_entry(n) for n in args.names] if args.names else list(load_table().values())
        work_dir = os.path.abspath(args.work_dir)
        os.makedirs(work_dir, exist_ok=True)
        for entry in entries:
            record = evaluate_entry(entry, args.test_root, args.sets, work_dir, args.threads)
            out = os.path.join(args.out_dir, f'{entry.name}.json')
            write_json_atomic(out, record)
            scores = ', '.join(f'{k} {v["psnr"]:.2f}' for k, v in record['sets'].items())
            print(f'{entry.name}: {scores} -> {out}')
    except (BenchmarkError, KeyError, ValueError, OSError) as error:
        fail(f'scripts.bench.zoo_eval: error: {error}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
