"""The benchmarks page's chart: equal-budget quality against latency at each network's best CPU path.

    python -m scripts.bench.plot                      # benchmarks/runtimes_<class>_2t.json + quality.json -> docs/assets/benchmarks.png
    python -m scripts.bench.plot --runtimes R.json --quality Q.json -o fig.png

One point per network present in both reports: x is the latency (ms, median) of the network's best path in
the runtimes report (``scripts/bench/runtimes.py``: every runtime and precision, the fastest kept), y is its
mean Y-PSNR on ``--set`` over the seeds of the equal-budget quality report (``scripts/bench/quality.py``),
with the seeds' standard deviation as an error bar; the runtime and precision that won are written beside
each point. Networks timed but not trained under the budget are listed in the caption, not plotted.

Options: ``--runtimes`` (default: the 2-thread ``benchmarks/runtimes_*_2t.json`` measured last), ``--quality`` (default
benchmarks/quality.json), ``--set`` (Set14), ``-o/--output`` (default docs/assets/benchmarks.png), ``--dpi``
(120). The PNG is written atomically.
"""
import glob
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMES = {'aidn_fused': 'AIDN', 'aidn_light': 'AIDN light', 'safmn': 'SAFMN', 'span': 'SPAN', 'ecbsr': 'ECBSR',
         'srvgg': 'SRVGGNetCompact'}
QUALITY_KEY = {'aidn_fused': 'aidn'}  # runtimes name -> quality name, where they differ


def load_json(path, what, keys):
    """The JSON at ``path``; a one-line ValueError naming ``what`` when it cannot be read or lacks ``keys``."""
    try:
        with open(path) as handle:
            report = json.load(handle)
    except OSError as error:
        raise ValueError(f'{what} {path}: cannot read ({error.strerror})') from None
    except json.JSONDecodeError as error:
        raise ValueError(f'{what} {path}: not valid JSON ({error})') from None
    missing = [key for key in keys if not isinstance(report, dict) or key not in report]
    if missing:
        raise ValueError(f'{what} {path}: no {missing[0]!r} entry; expected a JSON written by the benchmark script')
    return report


def points(runtimes, quality, set_name):
    """[(label, ms, psnr, std, path)] for the networks in both reports, and the names left out."""
    found, left_out = [], []
    for name, entry in runtimes['models'].items():
        trained = quality['models'].get(QUALITY_KEY.get(name, name))
        if not trained or set_name not in trained['sets']:
            left_out.append(NAMES.get(name, name))
            continue
        stats = trained['sets'][set_name]
        found.append((NAMES.get(name, name), entry['paths'][entry['best']]['latency']['median_ms'], stats['psnr'],
                      stats.get('psnr_std') or 0., entry['best']))
    return found, left_out


def make_figure(runtimes, quality, set_name='Set14'):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    found, left_out = points(runtimes, quality, set_name)
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for label, ms, psnr, std, path in found:
        ax.errorbar(ms, psnr, yerr=std, fmt='o', ms=7, capsize=3, color='#d62728' if label.startswith('AIDN') else '#1f77b4')
        ax.annotate(f'{label}\n{path.replace("_", " ")}', (ms, psnr), textcoords='offset points', xytext=(8, -4),
                    fontsize=8)
    meta, settings, budget = runtimes['meta'], runtimes['settings'], quality['settings']
    width, height = settings['output_size']
    ax.set_xlabel(f'latency at the best CPU path, ms ({width // settings["scale"]}x{height // settings["scale"]} -> '
                  f'{width}x{height}, {settings["threads"]} threads)')
    ax.set_ylabel(f'{set_name} Y-PSNR (dB), mean of seeds')
    ax.set_title(f'Quality at an equal budget ({budget["iters"]:,} iterations, batch {budget["batch"]}) against speed\n'
                 f'{meta["cpu"]} ({meta["cpu_class"]}), {meta["date"][:10]}', fontsize=9)
    ax.grid(alpha=0.3)
    ax.margins(x=0.25, y=0.15)
    if left_out:
        fig.text(0.01, 0.01, 'timed, not trained under this budget: ' + ', '.join(left_out), fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def newest_runtimes_report(threads=2):
    """The 2-thread runtimes report measured last (by the date it records: a clone's file times say nothing)."""
    found = glob.glob(os.path.join(REPO, 'benchmarks', f'runtimes_*_{threads}t.json'))
    dated = sorted((load_json(path, '--runtimes', ('meta', ))['meta']['date'], path) for path in found)
    return dated[-1][1] if dated else os.path.join(REPO, 'benchmarks', f'runtimes_*_{threads}t.json')


def main(argv=None):
    from aidn_plugin.cli.errors import OneLineParser, fail
    from aidn_plugin.utils.atomic import staged_file
    parser = OneLineParser(prog='python -m scripts.bench.plot', description=__doc__.splitlines()[0])
    parser.add_argument('--runtimes', default=None)
    parser.add_argument('--quality', default=os.path.join(REPO, 'benchmarks', 'quality.json'))
    parser.add_argument('--set', default='Set14')
    parser.add_argument('-o', '--output', default=os.path.join(REPO, 'docs', 'assets', 'benchmarks.png'))
    parser.add_argument('--dpi', type=int, default=120)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        runtimes = load_json(args.runtimes or newest_runtimes_report(), '--runtimes', ('meta', 'settings', 'models'))
        quality = load_json(args.quality, '--quality', ('settings', 'models'))
        fig = make_figure(runtimes, quality, args.set)
        with staged_file(args.output) as tmp:
            fig.savefig(tmp, dpi=args.dpi, format='png')
    except ValueError as error:
        fail(f'scripts.bench.plot: error: {error}')
    except OSError as error:
        fail(f'scripts.bench.plot: error: cannot write {args.output}: {error}')
    print(f'wrote {args.output}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
