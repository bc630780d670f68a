"""One chunk of the campaign, and the log's first row (``init``).

A chunk:

1. starts from the zoo's published weights of its scale (``continue``: a new cosine cycle from them), or,
   for the first chunk of x3/x4, from the x2 body (``warm start``: the zoo's ``aidn_x2`` body in a fresh
   network, ``aidn_plugin.zoo.warm_start``);
2. trains with ``basicsr train --auto_resume`` for its iterations (sized to ``--minutes`` from the rate the
   last chunk measured, corrected by a few training steps timed on this host now, or ``--iters``); the run
   is recorded in ``<work-dir>/x<s>_pending.json`` first, so a chunk cut short (killed, rebooted) is resumed
   from BasicSR's newest training state by the same command (deleting the record drops the chunk: the next
   one sets the old BasicSR folder aside instead of resuming it);
3. stages its weights as a zoo file (``scripts/publish_weights.py``'s ``publish``) in the work folder and
   runs ``basicsr test`` of that file on Set5, Set14 and B100;
4. publishes only when the validation figure (``log.VALIDATION_SETS``) beats the published weights': the
   evidence JSON, then the same file (same sha256) and its entry in the zoo table, the superseded file
   removed; the entry's recipe and data name every chunk behind the weights;
5. appends its row to the committed log, published or not, and removes the pending record.
"""
import os
import re

from scripts.bench.quality import REPO, BenchmarkError, check_test_sets
from scripts.bench.report_io import machine_info, write_json_atomic
from scripts.weights_campaign import training
from scripts.weights_campaign.evaluate import evaluate_file
from scripts.weights_campaign.log import (EVAL_SETS, CampaignError, campaign_rows, lineage, log_path, new_log,
                                          next_chunk, published_row, read_log, seconds_per_iteration,
                                          validation_figure, write_log, zoo_name)
from scripts.weights_campaign.probe import probe_seconds_per_step

CHECKPOINT_STEP = 500  # chunk sizes are rounded down to a multiple of this
STARTUP_SECONDS = 60  # start of basicsr train and test, besides the measured rates
WARM_START_SOURCE = 2


def repo_relative(path):
    path = os.path.abspath(path)
    return os.path.relpath(path, REPO) if path.startswith(REPO + os.sep) else path


def zoo_file(zoo_dir, name, purpose=''):
    """(entry, path) of ``name`` in the zoo table of ``zoo_dir``, the file present and its sha256 right."""
    from aidn_plugin.zoo.registry import file_sha256, load_table
    table = os.path.join(zoo_dir, 'published.json')
    if not os.path.isfile(table):
        raise CampaignError(f'--zoo-dir {zoo_dir}: no published.json (the zoo table){purpose}')
    entries = load_table(table)
    if name not in entries:
        raise CampaignError(f'{table}: no entry {name!r}{purpose}')
    entry = entries[name]
    path = os.path.join(zoo_dir, entry.filename)
    if not os.path.isfile(path):
        raise CampaignError(f'{path}: the file of zoo entry {name!r} is missing{purpose}')
    if file_sha256(path) != entry.sha256:
        raise CampaignError(f'{path}: sha256 does not match zoo entry {name!r}')
    return entry, path


def _evidence(entry):
    """The entry's evidence record when it describes the entry's file, else None."""
    import json
    if not entry.evidence:
        return None
    path = entry.evidence if os.path.isabs(entry.evidence) else os.path.join(REPO, entry.evidence)
    if not os.path.isfile(path):
        return None
    with open(path, encoding='utf-8') as handle:
        record = json.load(handle)
    return record if record.get('sha256') == entry.sha256 and set(EVAL_SETS) <= set(record['sets']) else None


def seed_log(args, scale):
    """A new log whose row 0 is the zoo's published weights (the campaign's start): the figures of the entry's
    evidence JSON, or of a ``basicsr test`` run now when there is none for that file."""
    name = zoo_name(scale)
    entry, path = zoo_file(args.zoo_dir, name)
    record, evidence = _evidence(entry), entry.evidence
    if record is None:
        check_test_sets(args.test_root, EVAL_SETS, scale)
        record = evaluate_file(path, name, scale, args.test_root, EVAL_SETS, _work_dir(args), args.threads,
                               f'weights_campaign_x{scale}_c000_test',
                               f'python -m scripts.weights_campaign init --scale {scale}')
        evidence = os.path.join(args.evidence_dir, f'{name}.json')
        write_json_atomic(evidence, record)
        evidence = repo_relative(evidence)
    iterations = getattr(args, 'iterations', None)  # init's option; a chunk reads the recipe
    if iterations is None:
        found = re.search(r'([\d,]+) iterations', entry.recipe)
        if not found:
            raise CampaignError(f'zoo entry {name!r}: its recipe does not say how many iterations trained it; '
                                'give --iterations')
        iterations = int(found.group(1).replace(',', ''))
    log = new_log(scale)
    log['chunks'].append({
        'chunk': 0, 'date': record['meta']['date'], 'kind': 'shipped', 'start': {'from': 'scratch'},
        'iterations': iterations, 'cumulative_iterations': iterations, 'schedule': None,
        'recipe': entry.recipe, 'data': entry.train_data,
        'sets': record['sets'], 'validation': validation_figure(record['sets']), 'gain_set5': None,
        'published': True, 'filename': entry.filename, 'sha256': entry.sha256, 'evidence': evidence,
        'train_seconds': None, 'eval_seconds': record['test_seconds'], 'resumed': False})
    return log


def init(args):
    """Write the log of ``args.scale`` from the zoo's weights, unless it exists; returns it."""
    path = log_path(args.log_dir, args.scale)
    log = read_log(path)
    if log is None:
        log = seed_log(args, args.scale)
        write_log(path, log)
    return log


def _work_dir(args):
    work_dir = os.path.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    return work_dir


def chunk_kind(init_choice, log, scale):
    """``continue`` or ``warm start`` for the next chunk of ``scale`` (``--init auto|published|x2-body``)."""
    if init_choice == 'x2-body':
        if scale == WARM_START_SOURCE:
            raise CampaignError('--init x2-body: x2 is what warm starts come from; x2 chunks continue')
        return 'warm start'
    if init_choice == 'published':
        return 'continue'
    # auto: the first chunk of x3/x4 is the warm start, every later one continues the published weights
    return 'warm start' if scale != WARM_START_SOURCE and not campaign_rows(log) else 'continue'


def chunk_iterations(args, log, base, probe_now=None):
    """(iterations, why) of the next chunk: ``--iters``; else ``--minutes`` at the seconds per iteration
    expected on this host now; else the option file's ``train.total_iter``.

    The expected rate starts from the last whole chunk of this scale and corrects it by ``probe_now``
    (seconds of one training step measured now, ``probe.probe_seconds_per_step``): scaled by now / then when
    that chunk ran a probe too, else the slower of the two, so a slower or busier host than last time gives
    a shorter chunk instead of one that overruns its minutes."""
    if args.iters:
        return args.iters, 'given with --iters'
    rate = seconds_per_iteration(log)
    if not rate:
        return int(base['train']['total_iter']), "the option file's train.total_iter; no chunk measured yet"
    measured, eval_seconds, probe_then = rate
    if probe_now and probe_then:
        per_iteration = measured * probe_now / probe_then
        how = (f'the last chunk measured {measured:.3f}, times {probe_now:.3f} / {probe_then:.3f} s per probe '
               'step now / then')
    elif probe_now:
        per_iteration = max(measured, probe_now)
        how = f"the slower of the last chunk's {measured:.3f} and a probe step now, {probe_now:.3f}"
    else:
        per_iteration, how = measured, 'the rate the last chunk measured'
    budget = args.minutes * 60 - eval_seconds - STARTUP_SECONDS
    iters = max(CHECKPOINT_STEP, int(budget / per_iteration) // CHECKPOINT_STEP * CHECKPOINT_STEP)
    return iters, f'{args.minutes:g} min at {per_iteration:.3f} s/iteration: {how}'


def pending_path(work_dir, scale):
    return os.path.join(work_dir, f'x{scale}_pending.json')


def _read_pending(path):
    import json
    if not os.path.isfile(path):
        return None
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)


def preflight(args, log, work_dir):
    """What a new chunk needs before any work, each missing piece one line: its kind, its option file (with
    the overrides), its training-image list and, for a warm start, the x2 weights. Returns
    (kind, options, (data_root, meta_info, data description))."""
    scale = args.scale
    kind = chunk_kind(args.init, log or new_log(scale), scale)
    base = training.load_options(training.option_file(scale, kind), args.override)
    listing = training.training_list(args.data, base['datasets']['train']['gt_size'], work_dir, scale)
    if kind == 'warm start':
        _warm_start_source(args, scale)
    return kind, base, listing


def _warm_start_source(args, scale):
    return zoo_file(args.zoo_dir, zoo_name(WARM_START_SOURCE),
                    f' (the warm start of x{scale} starts from the x2 body: train x2 first, '
                    'python -m scripts.weights_campaign chunk --scale 2)')


def plan_chunk(args, log, work_dir, kind, base, listing, say):
    """The pending record of a new chunk: its settings, start weights and option dict (nothing trained)."""
    scale = args.scale
    train_set = base['datasets']['train']
    data_root, meta_info, data = listing
    chunk = next_chunk(log)
    probe_seconds = round(probe_seconds_per_step(base, args.threads), 4)  # recorded always: later chunks scale by it
    iters, why = chunk_iterations(args, log, base, probe_seconds)
    say(f'x{scale} chunk {chunk} ({kind}): {iters:,} iterations ({why})')
    lr = base['train']['optim_g']['lr'] if args.lr is None else args.lr
    eta_min = base['train']['scheduler']['eta_min'] if args.eta_min is None else args.eta_min
    seed = int(base.get('manual_seed') or 0) + chunk  # each chunk draws other crops
    best = published_row(log)
    if kind == 'continue':
        entry, start_path = zoo_file(args.zoo_dir, zoo_name(scale))
        start = {'from': 'published', 'file': entry.filename, 'sha256': entry.sha256,
                 'iterations': best['cumulative_iterations']}
    else:
        entry, source_path = _warm_start_source(args, scale)
        start_path = os.path.join(work_dir, f'x{scale}_c{chunk:03d}_start.pth')
        training.write_warm_start(source_path, base, start_path, seed)
        x2_log = read_log(log_path(args.log_dir, WARM_START_SOURCE))
        start = {'from': 'x2 body', 'file': entry.filename, 'sha256': entry.sha256, 'iterations': 0,
                 'x2_iterations': next((r['cumulative_iterations'] for r in reversed(x2_log['chunks'])
                                        if r['sha256'] == entry.sha256), None) if x2_log else None}
    training.check_fits(start_path, base)
    name = f'weights_campaign_x{scale}_c{chunk:03d}'
    options = training.run_options(base, name, seed, start_path, iters, lr, eta_min, data_root, meta_info)
    schedule = {'lr': lr, 'eta_min': eta_min, 'shape': 'cosine', 'ema_decay': base['train'].get('ema_decay', 0),
                'batch': train_set['batch_size_per_gpu'], 'patch': train_set['gt_size'], 'seed': seed}
    return {'chunk': chunk, 'kind': kind, 'start': start, 'iterations': iters, 'schedule': schedule,
            'data': data, 'options': options, 'probe_seconds': probe_seconds,
            'started': machine_info(args.threads)['date']}


def set_aside_stale_run(work_dir, name, say=print):
    """Rename BasicSR's folder of run ``name`` when a new chunk of that name starts: it is left from a chunk
    whose pending record was deleted, and ``--auto_resume`` would otherwise continue that abandoned run.
    Returns the new path, or None when there was nothing to set aside."""
    import time
    folder = os.path.join(work_dir, 'experiments', name)
    if not os.path.isdir(folder):
        return None
    target = f'{folder}_abandoned_{time.strftime("%Y%m%d_%H%M%S")}'
    os.rename(folder, target)
    say(f'{folder}: left from a dropped chunk, renamed to {os.path.basename(target)}')
    return target


def _recipe_and_data(log, row, log_file):
    """The zoo entry's recipe and train_data: every chunk behind ``row``'s weights."""
    chain = lineage(log, row)
    parts, data = [], []
    for r in chain:
        if r['kind'] == 'shipped':
            parts.append(f'chunk 0, the shipped start ({r["iterations"]:,} iterations): {r["recipe"]}')
            data.append(f'chunk 0: {r["data"]}')
            continue
        s, origin = r['schedule'], ''
        if r['kind'] == 'warm start':
            x2_iterations = r['start'].get('x2_iterations')
            origin = (f' from the body of {r["start"]["file"]}'
                      + (f' ({x2_iterations:,} iterations at x2)' if x2_iterations else '')
                      + ', upsampler and fusion freshly initialised')
        parts.append(f'chunk {r["chunk"]} ({r["kind"]}{origin}): {r["iterations"]:,} iterations, cosine '
                     f'{s["lr"]:g} -> {s["eta_min"]:g}, EMA {s["ema_decay"]:g}, batch {s["batch"]}, HR patch '
                     f'{s["patch"]}, flips/rotations, L1, Adam (betas 0.9/0.99), seed {s["seed"]}')
        if r['data'] not in data:
            data.append(r['data'])
    recipe = (f'weights campaign (python -m scripts.weights_campaign chunk --scale {log["scale"]}), '
              f'{row["cumulative_iterations"]:,} iterations at x{log["scale"]} in all, every chunk logged in '
              f'{repo_relative(log_file)}: ' + '; '.join(parts))
    return recipe, '; '.join(data)


def run_chunk(args, say=print):
    """Run (or resume) one chunk of ``args.scale``; returns (row, log). With ``args.dry_run`` it stops after
    planning a new chunk (its kind, iterations, start weights, data) and returns (None, log)."""
    from scripts.publish_weights import publish
    scale, name = args.scale, zoo_name(args.scale)
    work_dir = _work_dir(args)
    try:
        check_test_sets(args.test_root, EVAL_SETS, scale)
    except BenchmarkError as error:
        raise CampaignError(str(error)) from None
    log_file = log_path(args.log_dir, scale)
    pending_file = pending_path(work_dir, scale)
    pending = _read_pending(pending_file)
    if pending is None:
        kind, base, listing = preflight(args, read_log(log_file), work_dir)
    log = init(args)
    best = published_row(log)
    entry, _ = zoo_file(args.zoo_dir, name)
    if pending is None:
        if entry.sha256 != best['sha256']:
            raise CampaignError(f'{os.path.join(args.zoo_dir, "published.json")}: {name} is {entry.filename}, but '
                                f'the published row of {log_file} is {best["filename"]}: zoo and log disagree')
        pending = plan_chunk(args, log, work_dir, kind, base, listing, say)
        if getattr(args, 'dry_run', False):  # the plan only: nothing trained, nothing recorded
            say(f'dry run: would train {pending["options"]["name"]} from {pending["start"]["from"]} '
                f'{pending["start"]["file"]}, lr {pending["schedule"]["lr"]:g} -> {pending["schedule"]["eta_min"]:g}, '
                f'on {pending["data"]}')
            return None, log
        set_aside_stale_run(work_dir, pending['options']['name'], say)
        write_json_atomic(pending_file, pending)
    else:
        say(f'x{scale} chunk {pending["chunk"]} was interrupted: resuming it with its own settings '
            f'({pending["iterations"]:,} iterations; delete {pending_file} to drop it instead)')
    chunk, options = pending['chunk'], pending['options']
    resumed = training.has_training_state(work_dir, options['name'])
    checkpoint, train_seconds = training.train(options, work_dir, args.threads)

    url_base = entry.url.rsplit('/', 1)[0]
    candidate, candidate_sha, _ = publish(checkpoint, name, os.path.join(work_dir, 'candidates', f'c{chunk:03d}'),
                                          url_base=url_base, license=entry.license, notes=entry.notes)
    # the evidence's command is the one that re-measures the shipped file (tests/test_evidence.py wants it):
    # zoo_eval runs this very evaluation; written_by names the campaign
    record = evaluate_file(candidate, name, scale, args.test_root, EVAL_SETS, work_dir, args.threads,
                           f'{options["name"]}_test', f'python -m scripts.bench.zoo_eval --names {name}')
    validation = validation_figure(record['sets'])
    improved = validation > best['validation'] + args.min_gain
    row = {'chunk': chunk, 'date': record['meta']['date'], 'kind': pending['kind'], 'start': pending['start'],
           'iterations': pending['iterations'],
           'cumulative_iterations': pending['start']['iterations'] + pending['iterations'],
           'schedule': pending['schedule'], 'data': pending['data'], 'sets': record['sets'],
           'validation': validation,
           'gain_set5': round(record['sets']['Set5']['psnr'] - best['sets']['Set5']['psnr'], 4),
           'published': improved, 'filename': os.path.basename(candidate), 'sha256': candidate_sha,
           'evidence': None, 'train_seconds': round(train_seconds, 1), 'eval_seconds': record['test_seconds'],
           'resumed': resumed, 'probe_seconds': pending.get('probe_seconds'), 'started': pending['started'],
           'machine': record['meta']}
    if improved:
        evidence = os.path.join(args.evidence_dir, f'{name}.json')
        row['evidence'] = repo_relative(evidence)
        record.update(written_by=f'python -m scripts.weights_campaign chunk --scale {scale}',
                      campaign={'log': repo_relative(log_file), 'chunk': chunk})
        recipe, data = _recipe_and_data(dict(log, chunks=log['chunks'] + [row]), row, log_file)
        write_json_atomic(evidence, record)  # first the evidence, then the table that names it
        path, sha256, _ = publish(candidate, name, args.zoo_dir, url_base=url_base, train_data=data, recipe=recipe,
                                  license=entry.license, notes=entry.notes, evidence=row['evidence'],
                                  psnr={k: round(v['psnr'], 2) for k, v in record['sets'].items()})
        if sha256 != candidate_sha:
            raise CampaignError(f'{path}: published file differs from the evaluated one ({sha256} vs {candidate_sha})')
        superseded = os.path.join(args.zoo_dir, best['filename'])
        if best['filename'] != os.path.basename(path) and os.path.isfile(superseded):
            os.remove(superseded)  # the table describes every file beside it; the old one lives in git history
    log['chunks'].append(row)
    write_log(log_file, log)
    os.remove(pending_file)
    return row, log
