"""The tables of the finished weights campaign, rendered from its committed logs.

    python -m scripts.bench.campaign                                  # both tables, as the model-zoo page shows them
    python -m scripts.bench.campaign --plot docs/assets/campaign.png  # and the training curves

The campaign ended by its stopping rule at every scale; the machinery that ran it lives in the git history.
Its record: one log per scale, ``benchmarks/weights_campaign/x<s>.json`` (row 0 the shipped start, then one
row per chunk: iterations, schedule, Y-PSNR per set from ``basicsr test``, the Set5 gain, published or
not), and the warm-start check, ``warmstart_x4.json`` (x4 from scratch and from the x2 body).
``markdown_table`` and ``warmstart_markdown`` render the docs' tables (``tests/test_evidence.py`` compares);
``plot_curves`` draws each set's Y-PSNR gain over row 0 against the iterations, a panel per scale.
"""
import json
import os

from scripts.bench.quality import REPO

EVAL_SETS = ('Set5', 'Set14', 'B100')
LOG_DIR = os.path.join(REPO, 'benchmarks', 'weights_campaign')
SCALES = (2, 3, 4)
WARM_START_ARMS = {'scratch': 'from scratch', 'x2-body': 'from the x2 body'}


def read_json(path):
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)


def read_logs(log_dir=LOG_DIR):
    """The per-scale logs, x2 first."""
    return [read_json(os.path.join(log_dir, f'x{scale}.json')) for scale in SCALES]


def markdown_table(logs):
    """Iterations against Y-PSNR: one line per row of every log, with what each chunk ran (its own
    iterations, the cosine cycle's starting learning rate, minutes of training), its Set5 gain over the
    weights it started from, and whether it was published."""
    lines = ['| scale | chunk | iterations | this chunk | lr | minutes | ' + ' | '.join(EVAL_SETS)
             + ' | gain Set5 | published |',
             '|---|---|---:|---:|---:|---:|' + '---:|' * len(EVAL_SETS) + '---:|---|']
    for log in logs:
        for row in log['chunks']:
            schedule, seconds, gain = row.get('schedule') or {}, row.get('train_seconds'), row.get('gain_set5')
            cells = [f'x{log["scale"]}', f'{row["chunk"]} ({row["kind"]})', f'{row["cumulative_iterations"]:,}',
                     f'{row["iterations"]:,}', f'{schedule["lr"]:g}' if schedule.get('lr') else '-',
                     f'{seconds / 60:.0f}' if seconds else '-']
            cells += [f'{row["sets"][s]["psnr"]:.2f}' for s in EVAL_SETS]
            cells += ['-' if gain is None else f'{gain:+.4f}', 'yes' if row['published'] else 'no']
            lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def warmstart_markdown(report):
    """The warm-start check as a table: Y-PSNR (dB) of both arms per set and their difference."""
    lines = [f'| x{report["scale"]}, {report["iterations"]:,} iterations | ' + ' | '.join(EVAL_SETS) + ' |',
             '|---|' + '---:|' * len(EVAL_SETS)]
    for arm, label in WARM_START_ARMS.items():
        sets = report['arms'][arm]['sets']
        lines.append(f'| {label} | ' + ' | '.join(f'{sets[s]["psnr"]:.2f}' for s in EVAL_SETS) + ' |')
    difference = report['difference_psnr']
    lines.append('| x2 body - scratch | ' + ' | '.join(f'{difference[s]:+.2f}' for s in EVAL_SETS) + ' |')
    return '\n'.join(lines) + '\n'


def plot_curves(logs, path, dpi=110):
    """Each chunk's Y-PSNR gain over row 0 against the iterations behind it: a panel per scale, a line per set."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from aidn_plugin.utils.atomic import staged_file
    fig, axes = plt.subplots(1, len(logs), figsize=(4.2 * len(logs), 3.4))
    for ax, log in zip(axes, logs):
        rows = log['chunks']
        for colour, name in zip(('tab:blue', 'tab:orange', 'tab:green'), EVAL_SETS):
            x = [row['cumulative_iterations'] / 1000 for row in rows]
            y = [row['sets'][name]['psnr'] - rows[0]['sets'][name]['psnr'] for row in rows]
            ax.plot(x, y, color=colour, lw=1, label=name)
            for xi, yi, row in zip(x, y, rows):
                ax.plot(xi, yi, 'o', color=colour, mfc=colour if row['published'] else 'white', ms=4)
        ax.set_title(f'x{log["scale"]}', fontsize=10)
        ax.set_xlabel('iterations behind the weights (thousands)')
        ax.grid(alpha=0.3)
    axes[0].set_ylabel('Y-PSNR gain over the first weights (dB)')
    axes[0].legend(fontsize=8)
    fig.suptitle('Weights campaign: each chunk (hollow: not published)', fontsize=10)
    fig.tight_layout()
    with staged_file(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format='png')
    plt.close(fig)


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog='python -m scripts.bench.campaign', description=__doc__.splitlines()[0])
    parser.add_argument('--plot', metavar='PNG', help='also draw the training curves into this file')
    args = parser.parse_args(argv)
    logs = read_logs()
    print(markdown_table(logs))
    print()
    print(warmstart_markdown(read_json(os.path.join(LOG_DIR, 'warmstart_x4.json'))))
    if args.plot:
        plot_curves(logs, args.plot)
        print(f'wrote {args.plot}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
