"""The benchmarks page's figure: latency and Y-PSNR of AIDN and its peers against parameters, from the benchmark JSONs.

    python -m scripts.bench.plot                     # benchmarks/speed.json (+ quality.json) -> docs/assets/benchmarks.png
    python -m scripts.bench.plot --speed S.json --quality Q.json -o fig.png

Panels: (1) CPU latency (ratio to SAFMN, same run) against parameters, every network of the speed run;
with a quality JSON also (2) Y-PSNR against parameters and (3) Y-PSNR against latency, for the networks
trained under the equal budget and bicubic, one marker per test set.

Options: ``--speed`` (default benchmarks/speed.json), ``--quality`` (default benchmarks/quality.json, used
when it exists; ``--no-quality`` ignores it), ``-o/--output`` (default docs/assets/benchmarks.png),
``--dpi`` (120). The PNG is written atomically.
"""
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLOURS = {'aidn': '#d62728', 'aidn_fused': '#d62728', 'safmn': '#1f77b4', 'span': '#2ca02c', 'ecbsr': '#9467bd',
           'srvgg': '#8c564b', 'bicubic': '#7f7f7f'}
NAMES = {'aidn': 'AIDN (train form)', 'aidn_fused': 'AIDN (fused)', 'safmn': 'SAFMN', 'span': 'SPAN',
         'ecbsr': 'ECBSR', 'srvgg': 'SRVGGNetCompact', 'bicubic': 'bicubic'}
SET_MARKERS = ('o', 's', '^', 'D', 'v')


def load_json(path, what):
    try:
        with open(path) as handle:
            return json.load(handle)
    except OSError as error:
        raise ValueError(f'{what} {path}: cannot read ({error.strerror})') from None
    except json.JSONDecodeError as error:
        raise ValueError(f'{what} {path}: not valid JSON ({error})') from None


def check_keys(report, keys, what, path):
    """A clear error when ``report`` lacks one of ``keys`` (a JSON not written by the benchmark scripts)."""
    for key in keys:
        if not isinstance(report, dict) or key not in report:
            raise ValueError(f'{what} {path}: no {key!r} entry; expected a JSON written by the benchmark script')


def quality_points(speed, quality):
    """(network key in the speed report, label, params, latency ratio, {set: psnr}) for each trained
    network and bicubic. AIDN is placed at its fused (inference) latency."""
    points = []
    speed_models = speed['models']
    for name, entry in quality['models'].items():
        key = 'aidn_fused' if name == 'aidn' else name
        latency = speed_models.get(key, {}).get('ratios', {}).get('latency')
        points.append((key, NAMES.get(key, name), entry['params'], latency,
                       {k: v['psnr'] for k, v in entry['sets'].items()}))
    if quality.get('bicubic'):
        latency = speed_models.get('bicubic', {}).get('ratios', {}).get('latency')
        points.append(('bicubic', 'bicubic', 0, latency, {k: v['psnr'] for k, v in quality['bicubic'].items()}))
    return points


def make_figure(speed, quality=None):
    """A matplotlib Figure of the panels described in the module docstring."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    from matplotlib.lines import Line2D

    panels = 3 if quality else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2), squeeze=False)
    axes = axes[0]
    meta = speed['meta']

    ax = axes[0]
    for name, entry in speed['models'].items():
        latency = entry['ratios']['latency']
        ax.scatter(entry['params'] / 1e3, latency, color=COLOURS.get(name, 'k'),
                   marker='x' if name == 'aidn' else 'o', s=50, zorder=3)
        ax.annotate(NAMES.get(name, name), (entry['params'] / 1e3, latency), textcoords='offset points',
                    xytext=(5, 4), fontsize=8)
    ax.axhline(1.0, color='#1f77b4', lw=0.8, ls='--')
    ax.set_xlabel('parameters (K, inference form)')
    ax.set_ylabel('CPU latency, x SAFMN (same run)')
    width, height = speed['settings']['output_size']
    ax.set_title(f'x{speed["settings"]["scale"]} to {width}x{height}, {meta["threads"]} threads', fontsize=10)
    ax.grid(alpha=0.3)

    if quality:
        points = quality_points(speed, quality)
        sets = quality['settings']['sets']
        for ax, xkey, xlabel in ((axes[1], 2, 'parameters (K, inference form)'),
                                 (axes[2], 3, 'CPU latency, x SAFMN (same run)')):
            for key, label, params, latency, psnr in points:
                x = params / 1e3 if xkey == 2 else latency
                if x is None:
                    continue
                for index, set_name in enumerate(sets):
                    ax.scatter(x, psnr[set_name], color=COLOURS.get(key, 'k'), marker=SET_MARKERS[index % 5],
                               s=45, zorder=3)
                ax.annotate(label, (x, psnr[sets[-1]]), textcoords='offset points', xytext=(5, -10), fontsize=8)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f'Y-PSNR (dB), x{quality.get("scale", 4)}')
            ax.grid(alpha=0.3)
            # marker = test set, colour = network (as in the first panel)
            handles = [Line2D([], [], color='k', marker=SET_MARKERS[i % 5], ls='', label=name)
                       for i, name in enumerate(sets)]
            ax.legend(handles=handles, fontsize=8, loc='best')
        s = quality['settings']
        axes[1].set_title(f'equal budget: {s["iters"]} it, batch {s["batch"]}, patch {s["patch"]}', fontsize=10)
        axes[2].set_title('quality against speed', fontsize=10)
    fig.suptitle(f'AIDN and peers, {meta["cpu"]}, {meta["date"][:10]}', fontsize=10)
    fig.tight_layout()
    return fig


def save_png(fig, path, dpi=120):
    from aidn_plugin.utils.atomic import staged_file
    with staged_file(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format='png')


def main(argv=None):
    from aidn_plugin.cli.errors import OneLineParser, fail
    parser = OneLineParser(prog='python -m scripts.bench.plot', description=__doc__.splitlines()[0])
    parser.add_argument('--speed', default=os.path.join(REPO, 'benchmarks', 'speed.json'))
    parser.add_argument('--quality', default=os.path.join(REPO, 'benchmarks', 'quality.json'))
    parser.add_argument('--no-quality', action='store_true')
    parser.add_argument('-o', '--output', default=os.path.join(REPO, 'docs', 'assets', 'benchmarks.png'))
    parser.add_argument('--dpi', type=int, default=120)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        speed = load_json(args.speed, '--speed')
        check_keys(speed, ('meta', 'settings', 'models'), '--speed', args.speed)
        quality = None
        if not args.no_quality and os.path.exists(args.quality):
            quality = load_json(args.quality, '--quality')
            check_keys(quality, ('settings', 'models'), '--quality', args.quality)
        save_png(make_figure(speed, quality), args.output, args.dpi)
    except (ValueError, KeyError) as error:
        fail(f'scripts.bench.plot: error: {error}')
    except OSError as error:
        fail(f'scripts.bench.plot: error: cannot write {args.output}: {error}')
    print(f'wrote {args.output}' + ('' if quality else ' (speed only: no quality JSON)'))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
