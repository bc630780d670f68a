"""The tables of the equal-budget quality campaign: per network the mean, standard deviation and range over
seeds, each network's difference to AIDN with a verdict on the noise, and the targets. Used by
``scripts.bench.quality`` and by the tests that check the docs' tables against the committed reports.

A difference is *beyond the spread* when it exceeds the larger of the two networks' seed ranges (highest
minus lowest Y-PSNR over their seeds): a gap no reshuffle of the seeds seen so far could close; one seed on
either side gives no verdict. ``training_cost`` / ``cost_markdown`` put several budgets on one axis, the
hours of training at each network's measured step (``benchmarks/speed.json``):

    python -m scripts.bench.quality_report benchmarks/quality.json benchmarks/quality_12k.json --speed benchmarks/speed.json
"""

SCALE = 4
# The evidence issue's target: AIDN's mean Y-PSNR at least SAFMN's on these sets; the edge issue's target
# (an edge design at least EDGE_MARGIN dB above AIDN without edges) is checked on the same sets.
TARGET_SETS = ('Set14', 'B100')
EDGE_MARGIN = 0.05
# Networks that use the edge map, compared against 'aidn_noedge' when both are in one report.
EDGE_USERS = ('aidn', 'aidn_edgegate', 'aidn_edgeloss')


def mean_std(values):
    """(mean, sample standard deviation) of ``values``; the deviation is None for a single value."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5


def summarize_cells(cells, sets):
    """Mean, standard deviation, range (max - min, None for one seed) and image count of one network's
    cells ({seed: cell}), per set."""
    seeds = sorted(cells)
    summary = {}
    for name in sets:
        psnr = [cells[s]['sets'][name]['psnr'] for s in seeds]
        ssim = [cells[s]['sets'][name]['ssim'] for s in seeds]
        (psnr_mean, psnr_std), (ssim_mean, ssim_std) = mean_std(psnr), mean_std(ssim)
        summary[name] = {'psnr': round(psnr_mean, 4), 'psnr_std': psnr_std and round(psnr_std, 4),
                         'psnr_range': round(max(psnr) - min(psnr), 4) if len(psnr) > 1 else None,
                         'ssim': round(ssim_mean, 4), 'ssim_std': ssim_std and round(ssim_std, 4),
                         'images': cells[seeds[0]]['sets'][name]['images']}
    return summary


def spread_verdict(delta, first, second):
    """(spread, beyond) for a difference ``delta`` of two set summaries: the larger seed range, and whether
    ``|delta|`` exceeds it (both None when either side has a single seed)."""
    ranges = [first.get('psnr_range'), second.get('psnr_range')]
    if None in ranges:
        return None, None
    spread = max(ranges)
    return round(spread, 4), abs(delta) > spread


def compare(report, sets, reference='aidn'):
    """Each network's mean minus ``reference``'s per set, with the seeds' spread and its verdict; and the
    targets: AIDN's mean Y-PSNR at least SAFMN's on TARGET_SETS (when SAFMN is in the report), and each
    edge-using network at least EDGE_MARGIN dB above AIDN without edges (when that is in the report)."""
    models = report['models']
    if reference not in models:
        return {}, {}
    ref = models[reference]['sets']
    difference = {}
    for model, entry in models.items():
        if model == reference:
            continue
        difference[model] = {}
        for name in sets:
            delta = entry['sets'][name]['psnr'] - ref[name]['psnr']
            spread, beyond = spread_verdict(delta, entry['sets'][name], ref[name])
            difference[model][name] = {'psnr': round(delta, 4),
                                       'ssim': round(entry['sets'][name]['ssim'] - ref[name]['ssim'], 4),
                                       'spread': spread, 'beyond_spread': beyond}
    targets = {}
    names = [name for name in TARGET_SETS if name in sets]
    if 'safmn' in difference:
        for name in names:
            value = -difference['safmn'][name]['psnr']
            targets[f'{name} mean Y-PSNR, AIDN - SAFMN (dB)'] = {'value': round(value, 4), 'target': '>= 0',
                                                                  'met': value >= 0}
    if 'aidn_noedge' in models:
        base = models['aidn_noedge']['sets']
        for model in (m for m in EDGE_USERS if m in models):
            for name in names:
                value = models[model]['sets'][name]['psnr'] - base[name]['psnr']
                targets[f'{name} mean Y-PSNR, {models[model]["label"]} - without edges (dB)'] = {
                    'value': round(value, 4), 'target': f'>= +{EDGE_MARGIN:.2f}', 'met': value >= EDGE_MARGIN}
    return difference, targets


def _pm(value, std, digits):
    return f'{value:.{digits}f}' + ('' if std is None else f' ± {std:.{digits}f}')


def _difference_cell(diff):
    text = f'{diff["psnr"]:+.3f} / {diff["ssim"]:+.4f}'
    if diff.get('beyond_spread') is None:
        return text
    return text + (' beyond' if diff['beyond_spread'] else ' within') + f' {diff["spread"]:.3f}'


def markdown(report):
    """The report as Markdown: the settings, mean ± std per network, the differences to AIDN with their
    verdicts, every seed, the targets and the cells not yet run."""
    meta, s = report['meta'], report['settings']
    sets = s['sets']
    seeds = sorted({seed for entry in report['models'].values() for seed in entry['seeds']})
    lines = [
        f'Equal-budget training; table written {meta["date"]} on {meta["cpu"]} ({meta["logical_cores"]} logical '
        f'cores, shared); each cell (network, seed) is one `basicsr train` + `basicsr test` run, its own date, '
        f'machine and time in its JSON under `{report["cells_dir"]}`. Every network: '
        f'{report["data"]["images"]} training images ({report["data"]["description"]}), {s["iters"]} iterations, '
        f'batch {s["batch"]}, HR patch {s["patch"]} (LR {s["patch"] // SCALE}), flips/rotations, L1, Adam lr '
        f'{s["lr"]:g} (betas 0.9/0.99), cosine to {s["eta_min"]:g}, EMA {s["ema_decay"]:g}; seeds '
        f'{", ".join(map(str, seeds))}. Y-channel PSNR (dB) / SSIM at x{SCALE}, border {SCALE}: mean ± sample '
        f'standard deviation over the seeds.', '',
        '| network | params | seeds | ' + ' | '.join(f'{k} PSNR | {k} SSIM' for k in sets) + ' |',
        '|---|---:|---:|' + '---:|---:|' * len(sets),
    ]
    for entry in report['models'].values():
        cells = [f'{_pm(entry["sets"][k]["psnr"], entry["sets"][k]["psnr_std"], 2)} | '
                 f'{_pm(entry["sets"][k]["ssim"], entry["sets"][k]["ssim_std"], 4)}' for k in sets]
        lines.append(f'| {entry["label"]} | {entry["params"] / 1e3:.0f}K | {len(entry["seeds"])} | '
                     + ' | '.join(cells) + ' |')
    if report.get('bicubic'):
        cells = [f'{report["bicubic"][k]["psnr"]:.2f} | {report["bicubic"][k]["ssim"]:.4f}' for k in sets]
        lines.append('| bicubic | 0 | - | ' + ' | '.join(cells) + ' |')
    if report.get('difference'):
        lines += ['', f'Difference of the means to {report["models"]["aidn"]["label"]} (Y-PSNR dB / SSIM; '
                  '"beyond x" or "within x": the Y-PSNR difference is larger or not than x, the larger of the '
                  'two networks\' seed ranges):', '',
                  '| network | ' + ' | '.join(sets) + ' |', '|---|' + '---:|' * len(sets)]
        for model, diff in report['difference'].items():
            cells = [_difference_cell(diff[k]) for k in sets]
            lines.append(f'| {report["models"][model]["label"]} - AIDN | ' + ' | '.join(cells) + ' |')
    lines += ['', 'Every seed (Y-PSNR dB):', '',
              '| network | seed | ' + ' | '.join(sets) + ' | training time, last run |', '|---|---:|' + '---:|' * len(sets) + '---:|']
    for entry in report['models'].values():
        for seed, cell in sorted(entry['seeds'].items()):
            cells = [f'{cell["sets"][k]["psnr"]:.3f}' for k in sets]
            lines.append(f'| {entry["label"]} | {seed} | ' + ' | '.join(cells) +
                         f' | {cell["train_seconds"] / 60:.1f} min |')
    lines += ['', 'Training time: wall-clock minutes of the `basicsr train` run that finished the cell, on a shared '
              'machine (a resumed cell counts only that last run); not a speed comparison.']
    if report.get('targets'):
        lines += ['', '| target | measured | wanted | met |', '|---|---:|---:|---|']
        for key, t in report['targets'].items():
            lines.append(f'| {key} | {t["value"]:+.3f} | {t["target"]} | {"yes" if t["met"] else "**no**"} |')
    missing = report.get('missing_cells')
    if missing:
        lines += ['', 'Not yet run: ' + ', '.join(missing) + '.']
    return '\n'.join(lines) + '\n'


def training_cost(reports, speed):
    """One row per (network, budget) of the quality ``reports``: its iterations times the network's training
    step in the ``speed`` report (``train_step``, median ms), as hours, with its mean Y-PSNR per set. Networks
    the speed report did not train are left out. Sorted by hours."""
    rows = []
    for report in reports:
        iters = report['settings']['iters']
        for model, entry in report['models'].items():
            step = speed['models'].get(model, {}).get('train_step')
            if step:
                rows.append({'model': model, 'label': entry['label'], 'iters': iters, 'seeds': len(entry['seeds']),
                             'step_ms': step['median_ms'], 'hours': round(iters * step['median_ms'] / 3.6e6, 2),
                             'sets': {k: v['psnr'] for k, v in entry['sets'].items()}})
    return sorted(rows, key=lambda row: (row['hours'], row['label']))


def cost_markdown(rows, speed):
    """The rows of :func:`training_cost` as a Markdown table, with the step's conditions above it."""
    meta, settings = speed['meta'], speed['settings']
    sets = list(rows[0]['sets']) if rows else []
    lines = [f'Training step: batch {settings["train_batch"]}, {settings["train_patch"]}x{settings["train_patch"]} '
             f'LR, {settings["threads"]} threads, median of {settings["train_repeats"]} (the speed benchmark, '
             f'{meta["cpu"]}, {meta["date"][:10]}); hours = iterations x step.', '',
             '| network | iterations | seeds | step ms | hours | ' + ' | '.join(sets) + ' |',
             '|---|---:|---:|---:|---:|' + '---:|' * len(sets)]
    for row in rows:
        lines.append(f'| {row["label"]} | {row["iters"]:,} | {row["seeds"]} | {row["step_ms"]:.0f} | '
                     f'{row["hours"]:.2f} | ' + ' | '.join(f'{row["sets"][k]:.2f}' for k in sets) + ' |')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    import argparse
    import json
    parser = argparse.ArgumentParser(prog='python -m scripts.bench.quality_report',
                                     description='Quality against training time, from quality and speed reports.')
    parser.add_argument('reports', nargs='+', help='quality report JSONs (scripts.bench.quality)')
    parser.add_argument('--speed', default='benchmarks/speed.json', help='the speed report with training steps')
    args = parser.parse_args(argv)
    loaded = []
    for path in args.reports + [args.speed]:
        with open(path, encoding='utf-8') as handle:
            loaded.append(json.load(handle))
    print(cost_markdown(training_cost(loaded[:-1], loaded[-1]), loaded[-1]), end='')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
