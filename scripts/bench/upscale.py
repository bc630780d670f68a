"""Wall time and peak memory of ``aidn upscale`` at several image sizes (default tiling).

    python -m scripts.bench.upscale                       # 960x540 and 1920x1080 inputs, x4
    python -m scripts.bench.upscale --sizes 480x270 960x540 --threads 1 --json benchmarks/upscale.json
    python -m scripts.bench.upscale -m aidn_x4               # zoo weights instead of random ones
    python -m scripts.bench.upscale --sizes 480x270 960x540 1920x1080 960x4320 7680x4320 --formats png jpg \
        --threads 1 --repeats 1 --json benchmarks/upscale_memory.json --md benchmarks/upscale_memory.md

Each run is a fresh child process (``python -m aidn_plugin.cli.aidn_cli upscale ...``), so its peak RSS
(``os.wait4``) covers the whole command; a child that only imports the package gives the baseline. Without
``-m``/``--weights`` the network is a randomly initialised default AIDN at ``--scale`` (speed and memory do
not depend on the weights). The input: a scikit-image photograph resized to each size. Start-up: the
medians of ``--repeats`` runs of ``aidn --help`` and of ``python -c "import torch"``; per upscale run (median
of ``--repeats``) the ratio of the whole command to ``import torch`` plus the upscaling time it reports.

Options: ``--sizes`` (input WxH), ``--scale`` (4), ``-m``/``--weights``, ``--tile``/``--tile-overlap`` (passed
on; ``--tile 0`` is the whole image at once), ``--threads`` (the child's OMP_NUM_THREADS; 1 is the steadiest
on a shared box), ``--repeats`` (3), ``--formats`` (output formats, each size once per format; PNG and TIFF
are written row by row, the others whole), ``--json FILE``, ``--md FILE`` (the peak RSS against output size
table).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import torch

import aidn_plugin  # noqa: F401  (compat layer before BasicSR)
from aidn_plugin.archs.aidn_arch import AIDN
from aidn_plugin.archs.complexity import parse_size
from aidn_plugin.inference.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, tile_count
from aidn_plugin.archs.aidn_spec import resolve_arch
from aidn_plugin.utils.image_header import read_header
from aidn_plugin.zoo.checkpoints import save_checkpoint
from scripts.bench.report_io import machine_info, write_json_atomic, write_text_atomic

CLI = [sys.executable, '-m', 'aidn_plugin.cli.aidn_cli']


def run_child(argv, env=None):
    """Run a command; returns (wall seconds, CPU seconds, peak RSS MiB, stdout, stderr, exit code)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile('w+') as out, tempfile.TemporaryFile('w+') as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True, env=env)
        _, status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        cpu = rusage.ru_utime + rusage.ru_stime
        rss_mib = rusage.ru_maxrss / (1024 * 1024 if sys.platform == 'darwin' else 1024)  # KiB on Linux, bytes on macOS
        return wall, cpu, rss_mib, out.read(), err.read(), proc.returncode


def median_wall(argv, env, repeats):
    """Median wall seconds of ``repeats`` runs of a command that must succeed."""
    walls = []
    for _ in range(repeats):
        wall, _, _, _, err, code = run_child(argv, env)
        if code != 0:
            raise SystemExit(f'benchmark: {" ".join(argv)} failed: {err.strip()[-300:]}')
        walls.append(wall)
    return statistics.median(walls)


def make_input(folder, width, height):
    from skimage import data
    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    image = cv2.resize(photo, (width, height), interpolation=cv2.INTER_AREA if width < 512 else cv2.INTER_CUBIC)
    path = os.path.join(folder, f'input_{width}x{height}.png')
    from aidn_plugin.utils.image_io import write_png
    write_png(path, image)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', nargs='+', default=['960x540', '1920x1080'], help='input sizes WIDTHxHEIGHT')
    parser.add_argument('--scale', type=int, default=4, help='upscale factor of the random network; default 4')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('-m', '--model', help='zoo name instead of random weights')
    group.add_argument('--weights', help='checkpoint instead of random weights')
    parser.add_argument('--tile', type=int, default=DEFAULT_TILE, help=f'default {DEFAULT_TILE}')
    parser.add_argument('--tile-overlap', type=int, default=DEFAULT_OVERLAP, help=f'default {DEFAULT_OVERLAP}')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads in the child (OMP_NUM_THREADS); default: torch\'s own choice')
    parser.add_argument('--repeats', type=int, default=3, help='runs of each command, median reported; default 3')
    parser.add_argument('--formats', nargs='+', default=['png'], metavar='EXT',
                        help='output formats, each size runs once per format; default png')
    parser.add_argument('--json', help='write the results to this JSON file')
    parser.add_argument('--md', help='write the peak RSS against output size table to this Markdown file')
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory() as work:
        if args.model:
            model_args, weights_label = ['-m', args.model], f'zoo {args.model}'
        elif args.weights:
            model_args, weights_label = ['--weights', args.weights], args.weights
        else:
            torch.manual_seed(0)
            net = AIDN(upscale=args.scale)
            path = os.path.join(work, 'random_aidn.pth')
            save_checkpoint(path, net.state_dict(), resolve_arch(net.state_dict()))
            model_args, weights_label = ['--weights', path], f'random init, default AIDN x{args.scale}'
        env = dict(os.environ)
        if args.threads:
            env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(args.threads)
        probe = 'import aidn_plugin.cli.aidn_cli, cv2, torch; print(torch.get_num_threads())'
        _, _, base_rss, threads, _, _ = run_child([sys.executable, '-c', probe], env)
        threads = int(threads)
        print(f'weights: {weights_label}; torch threads: {threads}; '
              f'baseline (imports only) peak RSS {base_rss:.0f} MiB', file=sys.stderr)
        startup = {'aidn_help_s': round(median_wall(CLI + ['--help'], env, args.repeats), 3),
                   'import_torch_s': round(median_wall([sys.executable, '-c', 'import torch'], env, args.repeats), 3)}
        print(f'aidn --help {startup["aidn_help_s"]:.2f} s, python -c "import torch" {startup["import_torch_s"]:.2f} s '
              f'(medians of {args.repeats})', file=sys.stderr)
        tile = args.tile
        for size, ext in ((size, ext) for size in args.sizes for ext in args.formats):
            width, height = parse_size(size)
            source = make_input(work, width, height)
            target = os.path.join(work, f'out_{width}x{height}_t{tile}.{ext}')
            cmd = CLI + ['upscale', source, '-o', target, '--force', '--device', 'cpu', '--tile', str(tile),
                         '--tile-overlap', str(args.tile_overlap)] + model_args
            results = []
            for _ in range(args.repeats):
                wall, cpu, rss, out, err, code = run_child(cmd, env)
                if code != 0:
                    raise SystemExit(f'benchmark: aidn upscale failed for {size} (tile {tile}): {err.strip()}')
                # "in.png -> out.png (WxH -> WxH, 12.3 s)": read, upscale and write, without start-up and imports.
                results.append((wall, cpu, rss, float(re.search(r', ([0-9.]+) s\)$', out.strip()).group(1))))
            wall, cpu, rss, upscale_s = sorted(results)[len(results) // 2]  # the run of median wall time
            header = read_header(target)  # the size from the header: a large output is not decoded here
            rows.append({'input': f'{width}x{height}', 'output': f'{header.width}x{header.height}', 'format': ext,
                         'output_mib': round(header.decoded_bytes() / 2**20, 1), 'tile': tile,
                         'tiles': tile_count(height, width, tile, args.tile_overlap), 'wall_s': round(wall, 1),
                         'upscale_s': upscale_s, 'cpu_s': round(cpu, 1), 'peak_rss_mib': round(rss),
                         'rss_above_baseline_mib': round(rss - base_rss),
                         'whole_over_import_torch_plus_upscale': round(wall / (startup['import_torch_s'] + upscale_s), 2)})
            print(f'  {size} tile {tile} .{ext}: {wall:.1f} s wall ({upscale_s:.1f} s upscaling), {cpu:.1f} s CPU, '
                  f'{rss:.0f} MiB', file=sys.stderr)
            os.remove(target)

    print(f'\n`aidn upscale` on CPU ({weights_label}), {threads} torch thread(s), {time.strftime("%Y-%m-%d")}. '
          f'Whole command = process start, imports, read, upscale, write; imports alone peak at '
          f'{base_rss:.0f} MiB RSS.\n')
    print(f'`aidn --help`: {startup["aidn_help_s"]:.2f} s; `python -c "import torch"`: {startup["import_torch_s"]:.2f} s.\n')
    print('| input | output | tile / overlap | tiles | whole command | of which upscaling | whole / (import torch + upscaling) '
          '| CPU time | peak RSS |')
    print('|---|---|---|---|---|---|---|---|---|')
    for row in rows:
        tiling = f'{row["tile"]} / {args.tile_overlap}' if row['tile'] else 'none (whole image)'
        print(f'| {row["input"]} | {row["output"]} | {tiling} | {row["tiles"]} | {row["wall_s"]:.1f} s '
              f'| {row["upscale_s"]:.1f} s | {row["whole_over_import_torch_plus_upscale"]:.2f} | {row["cpu_s"]:.1f} s '
              f'| {row["peak_rss_mib"]} MiB |')
    command = 'python -m scripts.bench.upscale ' + ' '.join(argv or sys.argv[1:])
    meta = machine_info(threads)
    if args.json:
        write_json_atomic(args.json, {'weights': weights_label, 'threads': threads, 'baseline_rss_mib': round(base_rss),
                                      'meta': meta, 'repeats': args.repeats, 'startup': startup,
                                      'command': command, 'runs': rows})
    if args.md:
        write_text_atomic(args.md, memory_table(rows, meta, weights_label, base_rss, command))
    return 0


def memory_table(rows, meta, weights_label, base_rss, command):
    """Markdown: peak RSS of whole ``aidn upscale`` runs against the output's size and format."""
    lines = [f'Peak RSS of `aidn upscale` against output size ({meta["date"][:10]}, {meta["cpu"]}, '
             f'{meta["threads"]} torch thread(s); {weights_label}; default tiling; `{command}`). '
             f'Imports alone: {base_rss:.0f} MiB. PNG and TIFF are written row by row, other formats assembled '
             'whole.', '',
             '| input | output | format | output, decoded | peak RSS | above imports alone | whole command |',
             '|---|---|---|---|---|---|---|']
    lines += [f'| {r["input"]} | {r["output"]} | {r["format"]} | {r["output_mib"]:,.1f} MiB '
              f'| {r["peak_rss_mib"]:,} MiB | {r["rss_above_baseline_mib"]:,} MiB | {r["wall_s"]:.1f} s |' for r in rows]
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    raise SystemExit(main())
