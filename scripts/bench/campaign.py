"""The tables of the finished weights campaign, rendered from its committed logs.

    python -m scripts.bench.campaign          # both tables, as the model-zoo page shows them

The campaign that trained the zoo's weights has ended (by its stopping rule at every scale); the machinery
that ran it lives in the git history. What stays is its record: one log per scale,
``benchmarks/weights_campaign/x<s>.json`` (row 0 the shipped start, then one row per chunk: iterations,
schedule, Y-PSNR per set from ``basicsr test``, the Set5 gain over the weights it started from, whether it
was published), and the warm-start check, ``benchmarks/weights_campaign/warmstart_x4.json`` (x4 from scratch
and from the x2 body, same iterations and seed). ``markdown_table(logs)`` and ``warmstart_markdown(report)``
turn them into the tables the docs show; ``tests/test_evidence.py`` compares the docs with them.
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


def main():
    print(markdown_table(read_logs()))
    print()
    print(warmstart_markdown(read_json(os.path.join(LOG_DIR, 'warmstart_x4.json'))))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
