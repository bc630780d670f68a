"""The equal-budget check of the warm start: x3 or x4 trained for the same iterations from scratch and from
the x2 body, everything else equal, then ``basicsr test`` of both.

Both arms use ``options/campaign_AIDN_x<s>_warmstart.yml`` (the warm-start chunk's recipe: Adam at its lr,
cosine to its eta_min over ``--iters``), the same seed (so the same crops in the same order), and no EMA
(an average that still holds its start after a short schedule would measure the start, not the training).
The only difference: ``scratch`` starts from AIDN's random initialisation, ``x2-body`` from a network whose
body is the zoo's ``aidn_x2`` body (upsampler and fusion freshly initialised).

Each arm is resumable (``--auto_resume``); a finished arm's result waits in the work folder, so running the
command again continues where it stopped. The report, ``benchmarks/weights_campaign/warmstart_x<s>.json``,
holds both arms per set and their difference, and ``warm_start_beats_scratch`` (higher Y-PSNR on every set);
``markdown(report)`` is its table as the README shows it (printed at the end of the check).
"""
import json
import os

from scripts.bench.quality import BenchmarkError, check_test_sets
from scripts.bench.report_io import machine_info, write_json_atomic
from scripts.weights_campaign import training
from scripts.weights_campaign.chunk import WARM_START_SOURCE, repo_relative, zoo_file
from scripts.weights_campaign.evaluate import evaluate_file
from scripts.weights_campaign.log import EVAL_SETS, CampaignError, zoo_name

ARMS = ('scratch', 'x2-body')


def report_path(log_dir, scale):
    return os.path.join(log_dir, f'warmstart_x{scale}.json')


ROW_LABELS = {'scratch': 'from scratch', 'x2-body': 'from the x2 body'}


def markdown(report):
    """The report as a Markdown table: Y-PSNR (dB, 2 decimals) of both arms per set and their difference."""
    lines = [f'| x{report["scale"]}, {report["iterations"]:,} iterations | ' + ' | '.join(EVAL_SETS) + ' |',
             '|---|' + '---:|' * len(EVAL_SETS)]
    for arm, label in ROW_LABELS.items():
        sets = report['arms'][arm]['sets']
        lines.append(f'| {label} | ' + ' | '.join(f'{sets[s]["psnr"]:.2f}' for s in EVAL_SETS) + ' |')
    difference = report['difference_psnr']
    lines.append('| x2 body - scratch | ' + ' | '.join(f'{difference[s]:+.2f}' for s in EVAL_SETS) + ' |')
    return '\n'.join(lines) + '\n'


def run_check(args, say=print):
    """Train and test both arms (those not finished yet); write and return the report."""
    scale = args.scale
    if scale == WARM_START_SOURCE:
        raise CampaignError('--scale 2: the warm start goes from x2 to x3 or x4')
    try:
        check_test_sets(args.test_root, EVAL_SETS, scale)
    except BenchmarkError as error:
        raise CampaignError(str(error)) from None
    source, source_path = zoo_file(args.zoo_dir, zoo_name(WARM_START_SOURCE),
                                   ' (the warm start starts from the x2 body: train x2 first)')
    work_dir = os.path.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    base = training.load_options(training.option_file(scale, 'warm start'), ['train:ema_decay=0', *args.override])
    patch = base['datasets']['train']['gt_size']
    data_root, meta_info, data = training.training_list(args.data, patch, work_dir, scale)
    lr, eta_min = base['train']['optim_g']['lr'], base['train']['scheduler']['eta_min']
    seed = int(base.get('manual_seed') or 0)
    arms = {}
    for arm in ARMS:
        name = f'weights_campaign_warmstart_x{scale}_it{args.iters}_{arm.replace("-", "_")}'
        done = os.path.join(work_dir, f'{name}.json')
        if os.path.isfile(done):
            with open(done, encoding='utf-8') as handle:
                arms[arm] = json.load(handle)
            say(f'[{arm}] finished already: {done}')
            continue
        start = None
        if arm == 'x2-body':
            start = training.write_warm_start(source_path, base, os.path.join(work_dir, f'{name}_start.pth'), seed)
        options = training.run_options(base, name, seed, start, args.iters, lr, eta_min, data_root, meta_info)
        say(f'[{arm}] basicsr train: {args.iters:,} iterations')
        checkpoint, seconds = training.train(options, work_dir, args.threads)
        record = evaluate_file(checkpoint, f'{arm} x{scale}', scale, args.test_root, EVAL_SETS, work_dir, args.threads,
                               f'{name}_test', f'python -m scripts.weights_campaign warmstart-check --scale {scale} '
                               f'--iters {args.iters}')
        arms[arm] = {'sets': record['sets'], 'train_seconds': round(seconds, 1), 'meta': record['meta']}
        write_json_atomic(done, arms[arm])
    difference = {s: round(arms['x2-body']['sets'][s]['psnr'] - arms['scratch']['sets'][s]['psnr'], 4)
                  for s in EVAL_SETS}
    report = {
        'scale': scale, 'iterations': args.iters, 'data': data,
        'recipe': f'{repo_relative(training.option_file(scale, "warm start"))}: Adam lr {lr:g}, cosine to '
                  f'{eta_min:g} over the iterations, no EMA, seed {seed} in both arms',
        'x2_body': {'file': source.filename, 'sha256': source.sha256},
        'arms': arms, 'difference_psnr': difference,
        'warm_start_beats_scratch': all(v > 0 for v in difference.values()),
        'command': f'python -m scripts.weights_campaign warmstart-check --scale {scale} --iters {args.iters}',
        'meta': machine_info(args.threads),
    }
    out = report_path(args.log_dir, scale)
    write_json_atomic(out, report)
    say('x2 body - scratch (Y-PSNR dB): ' + ', '.join(f'{s} {d:+.3f}' for s, d in difference.items()) + f' -> {out}')
    say(markdown(report))
    return report
