"""The campaign's committed state: one small JSON log per scale, ``benchmarks/weights_campaign/x<s>.json``.

Between chunks the campaign needs only this log and the published weight files (``aidn_plugin/zoo/weights``,
about 2 MB each); BasicSR's training states of a running chunk stay in the git-ignored work folder, so a
chunk cut short on one machine resumes there, and a new machine starts the next chunk from the zoo.

A log is ``{"scale", "name", "validation", "stopping_rule", "targets", "chunks": [row, ...]}``. Row 0 is the
shipped weights the campaign started from (figures from their evidence JSON); every later row is one chunk:

* ``chunk``, ``date``, ``kind`` (``shipped``, ``continue``: a new cosine cycle from the published weights,
  ``warm start``: from the x2 body), ``start`` (what it started from: ``from``, ``file``, ``sha256``,
  ``iterations``);
* ``iterations`` (this chunk), ``cumulative_iterations`` (of this scale's training behind the weights),
  ``schedule`` (lr, eta_min, ema_decay, batch, patch, seed), ``data``;
* ``sets`` (Y-PSNR/SSIM per set from ``basicsr test``), ``validation`` (the figure that decides
  publishing), ``gain_set5`` (Set5 minus the published Set5 before the chunk: the stopping rule's figure);
* ``published``, ``filename``/``sha256`` (the chunk's weight file), ``evidence`` (when published),
  ``train_seconds``, ``eval_seconds``, ``resumed``.

This module reads and writes logs and judges them (targets, stopping rule, the curve).
"""
import json
import os

# The figure that decides publishing: the mean Y-PSNR of Set5 and Set14 (19 images; Set5's 5 alone move by
# hundredths of a dB between runs of equal quality). B100 is measured every time but decides nothing, so it
# stays a held-out check of what the selection did.
VALIDATION_SETS = ('Set5', 'Set14')
EVAL_SETS = ('Set5', 'Set14', 'B100')
# The stopping rule: two successive chunks that gain less than this on Set5.
STOP_SET, STOP_GAIN, STOP_CHUNKS = 'Set5', 0.02, 2
TARGETS = {  # Y-PSNR (dB), basicsr test, border = scale
    2: {'Set5': 37.7, 'Set14': 33.2, 'B100': 31.95},
    3: {'Set5': 33.8, 'Set14': 29.95, 'B100': 28.85},
    4: {'Set5': 31.7, 'Set14': 28.25, 'B100': 27.40},
}
SCALES = tuple(sorted(TARGETS))


class CampaignError(Exception):
    """A user mistake or a failed step, reported as one line."""


def zoo_name(scale):
    return f'aidn_x{scale}'


def log_path(log_dir, scale):
    return os.path.join(log_dir, f'x{scale}.json')


def validation_figure(sets):
    """The publishing figure of ``sets`` ({set: {'psnr': ...}}): mean Y-PSNR of VALIDATION_SETS."""
    return round(sum(sets[name]['psnr'] for name in VALIDATION_SETS) / len(VALIDATION_SETS), 4)


def new_log(scale):
    return {
        'scale': scale, 'name': zoo_name(scale),
        'validation': f'mean Y-PSNR of {" and ".join(VALIDATION_SETS)} (basicsr test, border {scale}); a chunk '
                      'is published only when it is higher than the published weights\'',
        'stopping_rule': f'{STOP_CHUNKS} successive chunks gaining less than {STOP_GAIN} dB on {STOP_SET} '
                         'over the published weights they started from',
        'targets': TARGETS[scale],
        'chunks': [],
    }


def read_log(path):
    """The log at ``path``, or None when there is none yet."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as handle:
            log = json.load(handle)
    except (OSError, ValueError) as error:
        raise CampaignError(f'{path}: not a campaign log ({error})') from None
    if not isinstance(log, dict) or not isinstance(log.get('chunks'), list) or log.get('scale') not in TARGETS:
        raise CampaignError(f'{path}: not a campaign log (expected "scale" 2/3/4 and a "chunks" list)')
    return log


def write_log(path, log):
    from scripts.bench.report_io import write_json_atomic
    write_json_atomic(path, log)


def published_row(log):
    """The row of the weights the zoo ships now (the last published row)."""
    rows = [row for row in log['chunks'] if row['published']]
    if not rows:
        raise CampaignError(f'campaign log of x{log["scale"]} has no published row (seed it: '
                            f'python -m scripts.weights_campaign init --scale {log["scale"]})')
    return rows[-1]


def next_chunk(log):
    return max(row['chunk'] for row in log['chunks']) + 1


def campaign_rows(log):
    """The rows of chunks the campaign ran (row 0, the shipped start, excluded)."""
    return [row for row in log['chunks'] if row['kind'] != 'shipped']


def lineage(log, row):
    """The rows behind ``row``'s weights, oldest first: each ``continue`` chunk started from the published
    row whose file it names; a warm start or the shipped row begins a lineage."""
    by_sha = {r['sha256']: r for r in log['chunks'] if r['published']}
    chain = [row]
    while chain[0]['kind'] == 'continue' and chain[0]['start'].get('sha256') in by_sha:
        chain.insert(0, by_sha[chain[0]['start']['sha256']])
    return chain


def targets_status(log):
    """{set: (published Y-PSNR, target, met)} for the published weights, and whether all are met."""
    row = published_row(log)
    found = {name: (row['sets'][name]['psnr'], target, row['sets'][name]['psnr'] >= target)
             for name, target in log['targets'].items()}
    return found, all(met for _, _, met in found.values())


def stopping_status(log):
    """(met, gains): the Set5 gains of the last STOP_CHUNKS chunks, and whether all are below STOP_GAIN."""
    gains = [row['gain_set5'] for row in campaign_rows(log)][-STOP_CHUNKS:]
    return len(gains) == STOP_CHUNKS and all(g < STOP_GAIN for g in gains), gains


def seconds_per_iteration(log):
    """(training seconds per iteration, evaluation seconds, probe seconds per step or None) of the latest
    chunk that ran whole in one go, or None: what sizes the next chunk to a time budget. The probe is the
    one that chunk ran before training (``probe.py``; chunks before it have none)."""
    for row in reversed(campaign_rows(log)):
        if row.get('train_seconds') and row['iterations'] and not row.get('resumed'):
            return row['train_seconds'] / row['iterations'], row.get('eval_seconds') or 0.0, row.get('probe_seconds')
    return None


def status_lines(log):
    """What ``status`` prints for one scale: the curve, the targets and the stopping rule."""
    scale = log['scale']
    lines = [f'x{scale} ({log["name"]}): {len(campaign_rows(log))} chunk(s) run; validation: {log["validation"]}',
             f'  {"chunk":>5}  {"kind":<10}  {"iterations":>10}  ' + '  '.join(f'{s:>6}' for s in EVAL_SETS)
             + '  validation  gain Set5  published']
    for row in log['chunks']:
        gain = '' if row.get('gain_set5') is None else f'{row["gain_set5"]:+.4f}'
        lines.append(f'  {row["chunk"]:>5}  {row["kind"]:<10}  {row["cumulative_iterations"]:>10,}  '
                     + '  '.join(f'{row["sets"][s]["psnr"]:6.2f}' for s in EVAL_SETS)
                     + f'  {row["validation"]:10.3f}  {gain:>9}  {"yes" if row["published"] else "no"}')
    found, met = targets_status(log)
    lines.append('  targets: ' + ', '.join(f'{name} {value:.2f} >= {target:.2f} {"yes" if ok else "no"}'
                                           for name, (value, target, ok) in found.items())
                 + f' -> {"met" if met else "not met"}')
    stop, gains = stopping_status(log)
    shown = ', '.join(f'{g:+.4f}' for g in gains) or 'none yet'
    lines.append(f'  stopping rule ({log["stopping_rule"]}): {"met" if stop else "not met"} '
                 f'(last Set5 gains: {shown})')
    return lines, met or stop


def markdown_table(logs):
    """The README's table of iterations against Y-PSNR: one line per row of every log, with what each chunk
    ran (its own iterations, the cosine cycle's starting learning rate, minutes of training) and its Set5
    gain over the weights it started from, so the README's prose need not repeat them chunk by chunk."""
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
