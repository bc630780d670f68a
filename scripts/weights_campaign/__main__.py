"""The weights campaign's command line: chunks that survive restarts, a warm start check, the status.

    python -m scripts.weights_campaign chunk --scale 2            # one chunk (about 90 minutes on 2 cores)
    python -m scripts.weights_campaign chunk --scale 4            # the first x3/x4 chunk is the warm start
    python -m scripts.weights_campaign status [--markdown]        # curves, targets, stopping rule
    python -m scripts.weights_campaign warmstart-check --scale 4 --iters 1500
    python -m scripts.weights_campaign init --scale 4             # only the log's row 0 (chunk does it too)

Subcommands:

* ``chunk``: one chunk of ``--scale`` (``scripts/weights_campaign/chunk.py``): from the zoo's published
  weights (or, first for x3/x4, the x2 body), ``basicsr train --auto_resume``, ``basicsr test`` on Set5,
  Set14, B100, republished only when the mean Y-PSNR of Set5 and Set14 beats the published weights'; the
  row goes to ``benchmarks/weights_campaign/x<s>.json``. Run again after an interruption: the same command
  resumes the interrupted chunk from BasicSR's newest training state.
* ``status``: per scale the curve (cumulative iterations against Y-PSNR), the issue's targets and its
  stopping rule (two successive chunks gaining less than 0.02 dB on Set5); exit code 0. ``--markdown``
  prints the README's table instead.
* ``warmstart-check``: x3/x4 from scratch and from the x2 body, same iterations and everything else
  (``scripts/weights_campaign/warmstart.py``) -> ``benchmarks/weights_campaign/warmstart_x<s>.json``.
* ``init``: the log's row 0 from the zoo's current weights and their evidence JSON.

Options (chunk, init, warmstart-check): ``--scale`` (2, 3 or 4; chunk and init need it, warmstart-check
defaults to 4), ``--data DIR [DIR ...]`` (HR training images, searched recursively; default
``datasets/train``), ``--test-root DIR`` (``<set>/HR`` and ``<set>/LR_bicubic/X<s>``; default ``datasets``),
``--threads`` (OMP/MKL threads of the runs, 2), ``--override KEY:SUB=VALUE ...`` (changes to the option
file, BasicSR's ``--force_yml`` syntax, e.g. ``datasets:train:num_worker_per_gpu=2``), ``--zoo-dir``
(the zoo folder with ``published.json``; default ``aidn_plugin/zoo/weights``), ``--evidence-dir``
(``benchmarks/zoo_eval``), ``--log-dir`` (``benchmarks/weights_campaign``), ``--work-dir`` (git-ignored:
option files, BasicSR's experiments/ and results/, pending records, staged weights; default
``experiments/weights_campaign``).

chunk only: ``--iters N`` (the chunk's iterations; default: ``--minutes`` at the rate the last chunk of the
scale measured, corrected by a few training steps timed on this host now, see ``probe.py``; or the option
file's ``train.total_iter`` before any chunk), ``--minutes`` (90), ``--lr`` and
``--eta-min`` (the cosine cycle; default the option file's), ``--init auto|published|x2-body`` (auto: the
warm start for the first x3/x4 chunk, else the published weights), ``--min-gain`` (dB the validation
figure must beat the published one by; default 0), ``--dry-run`` (plan the next chunk and print it: kind,
iterations, start weights, data; nothing trained or recorded).
init only: ``--iterations`` (what trained the zoo's weights; default read from the entry's recipe).
warmstart-check only: ``--iters`` (each arm's iterations, 1500).
status only: ``--markdown``, ``--log-dir``.
"""
import os
import sys

from scripts.bench.quality import REPO

DEFAULTS = {
    'data': [os.path.join(REPO, 'datasets', 'train')],
    'test_root': os.path.join(REPO, 'datasets'),
    'zoo_dir': os.path.join(REPO, 'aidn_plugin', 'zoo', 'weights'),
    'evidence_dir': os.path.join(REPO, 'benchmarks', 'zoo_eval'),
    'log_dir': os.path.join(REPO, 'benchmarks', 'weights_campaign'),
    'work_dir': os.path.join(REPO, 'experiments', 'weights_campaign'),
}


def _common(parser, scale_required=True, scale_default=None):
    from scripts.weights_campaign.log import SCALES
    parser.add_argument('--scale', type=int, choices=SCALES, required=scale_required, default=scale_default,
                        help='upscaling factor' + (f' (default {scale_default})' if scale_default else ''))
    parser.add_argument('--data', nargs='+', default=DEFAULTS['data'], metavar='DIR',
                        help='HR training images, searched recursively (default datasets/train)')
    parser.add_argument('--test-root', default=DEFAULTS['test_root'], metavar='DIR',
                        help='holds <set>/HR and <set>/LR_bicubic/X<s> for Set5, Set14, B100 (default datasets)')
    parser.add_argument('--threads', type=int, default=2, help='OMP/MKL threads of the runs (default 2)')
    parser.add_argument('--override', nargs='+', action='extend', default=[], metavar='KEY:SUB=VALUE',
                        help="changes to the option file in BasicSR's --force_yml syntax")
    for key, what in (('zoo_dir', 'zoo folder with published.json'), ('evidence_dir', 'basicsr test records'),
                      ('log_dir', 'campaign logs'), ('work_dir', 'git-ignored working state')):
        parser.add_argument('--' + key.replace('_', '-'), default=DEFAULTS[key], metavar='DIR',
                            help=f'{what} (default {os.path.relpath(DEFAULTS[key], REPO)})')


def build_parser():
    """(parser, subparsers) of the command line; every option carries its help text."""
    from aidn_plugin.cli.errors import OneLineParser
    parser = OneLineParser(prog='python -m scripts.weights_campaign', description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True, parser_class=OneLineParser)
    chunk = sub.add_parser('chunk', help='one chunk of training, evaluation and (on improvement) publishing')
    _common(chunk)
    chunk.add_argument('--iters', type=int, default=None,
                       help="the chunk's iterations (default: --minutes at the rate expected on this host now)")
    chunk.add_argument('--minutes', type=float, default=90.0, help='training time to size the chunk to (90)')
    chunk.add_argument('--lr', type=float, default=None, help="cosine cycle's start (default the option file's)")
    chunk.add_argument('--eta-min', type=float, default=None, help="cosine cycle's end (default the option file's)")
    chunk.add_argument('--init', choices=('auto', 'published', 'x2-body'), default='auto',
                       help='start weights; auto: the x2 body for the first x3/x4 chunk, else the published ones')
    chunk.add_argument('--min-gain', type=float, default=0.0,
                       help='dB the validation figure must beat the published one by to publish (0)')
    chunk.add_argument('--dry-run', action='store_true', help='plan the chunk, print it, train nothing')
    init = sub.add_parser('init', help="the log's row 0 from the zoo's weights")
    _common(init)
    init.add_argument('--iterations', type=int, default=None,
                      help="what trained the zoo's weights (default read from the entry's recipe)")
    check = sub.add_parser('warmstart-check', help='equal-budget x3/x4: scratch against the x2 body')
    _common(check, scale_required=False, scale_default=4)
    check.add_argument('--iters', type=int, default=1500, help="each arm's iterations (1500)")
    status = sub.add_parser('status', help='curves, targets and the stopping rule of every scale')
    status.add_argument('--log-dir', default=DEFAULTS['log_dir'], metavar='DIR',
                        help='campaign logs (default benchmarks/weights_campaign)')
    status.add_argument('--markdown', action='store_true', help="print the README's table")
    return parser, sub


def parse_args(argv):
    parser, sub = build_parser()
    chunk = sub.choices['chunk']
    args = parser.parse_args(argv)
    for key in ('iters', 'iterations', 'threads'):
        value = getattr(args, key, None)
        if value is not None and value < 1:
            sub.choices[args.command].error(f'--{key} must be at least 1, got {value}')
    if getattr(args, 'minutes', 1) <= 0:
        chunk.error(f'--minutes must be positive, got {args.minutes}')
    if any(value is not None and value < 0 for value in (getattr(args, 'lr', None), getattr(args, 'eta_min', None))):
        chunk.error('--lr and --eta-min must not be negative')
    return args


def status(args):
    from scripts.weights_campaign.log import SCALES, log_path, markdown_table, read_log, status_lines
    logs = [log for log in (read_log(log_path(args.log_dir, s)) for s in SCALES) if log]
    if not logs:
        print(f'no campaign log in {args.log_dir} yet (python -m scripts.weights_campaign init --scale S)')
        return 0
    if args.markdown:
        print(markdown_table(logs))
        return 0
    done = []
    for log in logs:
        lines, finished = status_lines(log)
        print('\n'.join(lines))
        done.append(finished)
    missing = sorted(set(SCALES) - {log['scale'] for log in logs})
    verdict = ('every scale has met its targets or the stopping rule: the campaign can end'
               if all(done) and not missing else 'the campaign goes on: ' + ', '.join(
                   [f'x{log["scale"]}' for log, d in zip(logs, done) if not d] + [f'x{s} (no log)' for s in missing]))
    print(verdict)
    return 0


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import aidn_plugin  # noqa: F401  (compat layer before BasicSR)
    from aidn_plugin.archs.aidn_spec import CheckpointError
    from aidn_plugin.cli.errors import fail
    from scripts.bench.quality import BenchmarkError
    from scripts.weights_campaign.log import CampaignError
    try:
        if args.command == 'status':
            return status(args)
        if args.command == 'init':
            from scripts.weights_campaign.chunk import init
            log = init(args)
            print(f'x{args.scale}: log has {len(log["chunks"])} row(s)')
            return 0
        if args.command == 'warmstart-check':
            from scripts.weights_campaign.warmstart import run_check
            run_check(args)
            return 0
        from scripts.weights_campaign.chunk import run_chunk
        from scripts.weights_campaign.log import status_lines
        row, log = run_chunk(args)
        if row is None:
            return 0
        sets = ', '.join(f'{k} {v["psnr"]:.2f}' for k, v in row['sets'].items())
        print(f'x{args.scale} chunk {row["chunk"]}: {row["cumulative_iterations"]:,} iterations, {sets}, validation '
              f'{row["validation"]:.3f}: ' + (f'published as {row["filename"]}' if row['published'] else
                                             'not better than the published weights, not published'))
        print('\n'.join(status_lines(log)[0]))
        if row['published']:
            print('now update the README rows of this scale (Model zoo, Trained weights, Weights campaign: '
                  '`python -m scripts.weights_campaign status --markdown`); tests/test_evidence.py checks them')
        return 0
    except (CampaignError, BenchmarkError, CheckpointError, OSError, ValueError) as error:
        fail(f'python -m scripts.weights_campaign {args.command}: error: {error}')


if __name__ == '__main__':
    raise SystemExit(main())
