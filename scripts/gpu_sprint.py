"""The GPU sprint: on a lent GPU machine one command checks the GPU path, then trains better x4 weights in
minutes; back here one command evaluates what came back and publishes it only by the zoo's rule.

    python3 scripts/gpu_sprint.py run --out $OUT         # there, from the repository root
    python scripts/gpu_sprint.py publish DIR --test-root DATASETS       # here: DIR came back

Before it: ``wheels/`` (what the GPU machine lacks) and ``sprint_data/`` (scripts/pack_training_data.py); the
device call: docs/contributing.md, "GPU check". ``run`` refuses in one line (exit 2) without CUDA, before it
installs or writes anything, unless ``--rehearse-on-cpu`` (the same phases on the CPU, nothing installed,
bf16 for fp16; its figures mean nothing). A failed phase does not stop the next:

1. install: ``pip install --no-index --no-deps --target SITE`` of every wheel in ``--wheels``; SITE and the
   repository go on the module path of every run.
2. preflight: the packed data against its manifest; the start weights: the zoo's x4 file, or with ``--init
   x2-body`` the x2 body in a fresh x4 network (``aidn_plugin.zoo.warm_start``).
3. check: fp16 ``basicsr train`` under ``torchrun --standalone --nproc_per_node=1 ... --launcher pytorch``
   (nccl, DDP) for ``--check-iters`` iterations, whose rate and start-up time size the training; then
   resumed with ``--auto_resume`` (the gradient scaler's state restored).
4. train: the campaign recipe (``options/campaign_AIDN_x4.yml``: L1, Adam, cosine ``--lr`` to ``--eta-min``,
   EMA ``--ema``) from the start weights on the packed images at least ``--patch`` px, bf16 AMP (then fp16,
   then fp32, should it fail), as many iterations as fit into ``--minutes`` and before ``--deadline-min``
   (past it the run is stopped, its newest checkpoint kept). GPU memory: nvidia-smi's peak, every 2 s.
5. evaluate: ``basicsr test`` of the EMA weights on the packed Set5 and Set14.

Into ``--out``, after every phase: ``sprint.json`` (settings, phases, result), ``sprint.log``, ``train.log``
(BasicSR's) and ``aidn_x4_sprint.pth``. Exit code 0 when every phase passed, else 1. Options: ``--out``
(sprint_out), ``--data`` (sprint_data), ``--wheels`` (wheels), ``--site`` (/tmp/aidn_sprint_site),
``--no-install``, ``--work`` (a temporary folder), ``--minutes`` (5), ``--deadline-min`` (8.5), ``--init``
(published | x2-body), ``--batch`` (64), ``--patch`` (192), ``--workers`` (cores less 2), ``--lr`` (5e-4),
``--eta-min`` (1e-6), ``--ema`` (0.999), ``--seed`` (10), ``--check-iters`` (200), ``--no-check``,
``--rehearse-on-cpu``.

``publish DIR``: the zoo's evaluation (``scripts.bench.zoo_eval``) of DIR's weights on Set5, Set14 and B100
under ``--test-root``; published only when the mean Y-PSNR of Set5 and Set14 beats the published entry's
(its evidence's unrounded figures, or measured now when that evidence is of another file). Then the
evidence (``--evidence-dir``/aidn_x4.json), the zoo file and its entry (``publish_weights.publish``), the
superseded file removed. Always: ``--record-dir``/<date>.json, the sprint's JSON with the decision.
Options: ``--test-root`` (datasets), ``--zoo-dir`` (aidn_plugin/zoo/weights), ``--evidence-dir``
(benchmarks/zoo_eval), ``--record-dir`` (benchmarks/gpu_sprint), ``--work-dir`` (results/gpu_sprint),
``--threads`` (2).
"""
import datetime
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZOO = os.path.join(ROOT, 'aidn_plugin', 'zoo', 'weights')
NAME, SCALE = 'aidn_x4', 4
RECIPE = os.path.join(ROOT, 'options', 'campaign_AIDN_x4.yml')
WEIGHTS = 'aidn_x4_sprint.pth'
VALIDATION_SETS, EVAL_SETS = ('Set5', 'Set14'), ('Set5', 'Set14', 'B100')
EVAL_RESERVE_S = 45  # the evaluation and the files after the training
LOG_LINE = re.compile(r'^(\S+ \S+) INFO: \[.*?iter:\s*([\d,]+),.*?time \(data\): [\d.]+ \(([\d.]+)\)\]\s*'
                      r'l_pix: (\S+)', re.M)


class SprintError(Exception):
    """A bad input, a failed run: one line."""


def validation(sets):
    """The publishing figure: the mean Y-PSNR of Set5 and Set14 (``sets``: {set: {'psnr': ...}})."""
    return round(sum(sets[name]['psnr'] for name in VALIDATION_SETS) / len(VALIDATION_SETS), 4)


def write_json(path, record):
    from aidn_plugin.utils.atomic import write_text
    write_text(path, json.dumps(record, indent=2) + '\n')


def zoo_file(zoo_dir, name):
    """(entry, path) of ``name`` in the zoo table of ``zoo_dir``, its file there with the right sha256."""
    from aidn_plugin.zoo.registry import file_sha256, load_table
    table = os.path.join(zoo_dir, 'published.json')
    entries = load_table(table) if os.path.isfile(table) else {}
    if name not in entries:
        raise SprintError(f'{table}: no zoo entry {name!r}')
    path = os.path.join(zoo_dir, entries[name].filename)
    if not os.path.isfile(path) or file_sha256(path) != entries[name].sha256:
        raise SprintError(f'{path}: missing, or not the file of zoo entry {name!r} (sha256)')
    return entries[name], path


def evaluate_file(path, test_root, sets, work_dir, threads, tag, num_gpu=0):
    """``basicsr test`` of the weight file ``path`` on ``sets``: the zoo's evaluation, as its evidence record."""
    from scripts.bench.zoo_eval import evaluate_weights
    return evaluate_weights(path, NAME, SCALE, test_root, sets, work_dir, threads, tag, num_gpu=num_gpu)


# ------------------------------------------------------------------------------------------------- run
class Sprint:
    """The run's JSON and log, rewritten atomically after every phase, and its commands."""

    def __init__(self, args):
        self.args, self.start, self.lines = args, time.monotonic(), []
        self.report = {'date': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
                       'command': 'python3 scripts/gpu_sprint.py ' + ' '.join(sys.argv[1:]),
                       'rehearsal': args.rehearse_on_cpu, 'phases': {}, 'failures': []}

    def elapsed(self):
        return time.monotonic() - self.start

    def log(self, text):
        for line in str(text).splitlines() or ['']:
            self.lines.append(f'[{self.elapsed():6.1f} s] {line}')
            print(self.lines[-1], flush=True)

    def save(self):
        from aidn_plugin.utils.atomic import write_text
        self.report['wall_s'] = round(self.elapsed(), 1)
        write_json(os.path.join(self.args.out, 'sprint.json'), self.report)
        write_text(os.path.join(self.args.out, 'sprint.log'), '\n'.join(self.lines) + '\n')

    def phase(self, name, function):
        self.log(f'== {name}')
        try:
            result = function(self)
        except Exception as error:  # a failed phase must not cost the next ones a scarce GPU window
            result = {'error': f'{type(error).__name__}: {error}'}
            self.report['failures'].append(f'{name}: {result["error"]}')
            self.log(f'{name} failed: {result["error"]}')
        self.report['phases'][name] = result
        self.save()
        return 'error' not in result

    def run(self, command, tag, timeout):
        """Run ``command`` in the work folder, its output in ``<tag>.out`` and the tail of it logged. Returns
        its wall time, or None when it was stopped at ``timeout``; SprintError on a failure."""
        path = os.path.join(self.args.work, f'{tag}.out')
        self.log('$ ' + ' '.join(command))
        begin = time.monotonic()
        with open(path, 'w') as output:
            process = subprocess.Popen(command, cwd=self.args.work, stdout=output, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            try:
                code = process.wait(timeout=max(timeout, 1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)  # the run and its loader processes
                process.wait()
                code = None
        lines = open(path, errors='replace').read().splitlines()
        self.log('\n'.join(lines[-12:] if code == 0 else lines[-40:]))
        self.log(f'-> {"stopped at the deadline" if code is None else f"exit {code}"} in '
                 f'{time.monotonic() - begin:.1f} s')
        if code not in (0, None):
            raise SprintError(f'{tag}: exit {code} (sprint.log has its output)')
        return code if code is None else time.monotonic() - begin

    def train(self, name, amp, iters, periods=None, launcher=False, resume=False, timeout=300, save=None):
        """One ``basicsr train`` of the campaign recipe at the sprint's settings; returns (wall, log facts)."""
        import yaml

        from aidn_plugin.utils.atomic import write_text
        args = self.args
        with open(RECIPE, encoding='utf-8') as handle:
            opt = yaml.safe_load(handle)
        cuda = not args.rehearse_on_cpu
        opt.update(name=name, num_gpu=1 if cuda else 0, manual_seed=args.seed)
        opt.pop('val')
        opt['datasets']['train'].update(
            dataroot_gt=os.path.join(args.data, 'train'), meta_info_file=args.meta_info, gt_size=args.patch,
            batch_size_per_gpu=args.batch, num_worker_per_gpu=args.workers, pin_memory=cuda,
            persistent_workers=args.workers > 0)
        opt['path']['pretrain_network_g'] = args.start
        opt['train'].update(amp=amp, total_iter=iters, ema_decay=args.ema)
        opt['train']['optim_g']['lr'] = args.lr
        opt['train']['scheduler'].update(periods=[periods or iters], eta_min=args.eta_min)
        opt['logger'].update(print_freq=max(1, min(iters // 10, 100)), save_checkpoint_freq=save or max(1, iters // 5))
        path = os.path.join(args.work, f'{name}.yml')
        write_text(path, yaml.safe_dump(opt, sort_keys=False))
        command = [sys.executable, '-m', 'aidn_plugin.cli', 'train', '-opt', path]
        if launcher:
            command[1:3] = ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=1', '-m',
                            'aidn_plugin.cli']
            command.append('--launcher=pytorch')
        wall = self.run(command + ['--auto_resume'] * resume, name + '_resume' * resume, timeout)
        logs = sorted(glob.glob(os.path.join(args.work, 'experiments', name, f'train_{name}_*.log')),
                      key=os.path.getmtime)
        if not logs:
            raise SprintError(f'{name}: BasicSR wrote no training log')
        text = open(logs[-1], encoding='utf-8').read()
        rows = [(datetime.datetime.strptime(t, '%Y-%m-%d %H:%M:%S,%f'), int(i.replace(',', '')), float(d), float(loss))
                for t, i, d, loss in LOG_LINE.findall(text)]
        seconds = (rows[-1][0] - rows[0][0]).total_seconds() if len(rows) > 1 else 0
        rate = (rows[-1][1] - rows[0][1]) / seconds if seconds > 0 else (wall and iters / wall)
        return wall, {'log': logs[-1], 'text': text, 'iterations_per_second': rate and round(rate, 3),
                      'data_time_s': rows[-1][2] if rows else None,
                      'loss_curve': [[i, loss] for _, i, _, loss in rows]}


def step_install(sprint):
    args = sprint.args
    wheels = sorted(glob.glob(os.path.join(args.wheels, '*.whl')))
    if not wheels:
        raise SprintError(f'--wheels {args.wheels}: no wheel there (docs/contributing.md, "GPU check")')
    sprint.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps', '--no-compile',
                '--no-cache-dir', '--upgrade', '--target', args.site, *wheels], 'install', 300)
    return {'wheels': [os.path.basename(w) for w in wheels], 'target': args.site}


def step_preflight(sprint):
    from PIL import Image

    from scripts.pack_training_data import verify
    args = sprint.args
    manifest = verify(args.data)
    entry, path = zoo_file(ZOO, NAME if args.init == 'published' else 'aidn_x2')
    args.start = path
    if args.init == 'x2-body':
        import torch
        import yaml

        from aidn_plugin.archs.aidn_arch import AIDN
        from aidn_plugin.utils.atomic import torch_save
        from aidn_plugin.zoo.checkpoints import read_checkpoint
        from aidn_plugin.zoo.warm_start import warm_start_state_dict
        torch.manual_seed(args.seed)
        network = yaml.safe_load(open(RECIPE, encoding='utf-8'))['network_g']
        target = AIDN(**{k: v for k, v in network.items() if k != 'type'})
        args.start = os.path.join(args.work, 'start_x2_body.pth')
        torch_save({'params': warm_start_state_dict(read_checkpoint(path)[0], target, path)}, args.start)
    train = [f['path'][len('train/'):] for f in manifest['files'] if f['path'].startswith('train/')]
    usable = [name for name in train if min(Image.open(os.path.join(args.data, 'train', name)).size) >= args.patch]
    if not usable:
        raise SprintError(f'--data {args.data}: no training image is at least {args.patch} px (--patch)')
    args.meta_info = os.path.join(args.work, 'meta_info.txt')
    with open(args.meta_info, 'w') as handle:
        handle.write('\n'.join(usable) + '\n')
    return {'training_images': len(train), 'at_least_patch': len(usable), 'packed_bytes': manifest['packed_bytes'],
            'start': {'init': args.init, 'file': entry.filename, 'sha256': entry.sha256}}


def step_check(sprint):
    """fp16 under torchrun (nccl, DDP) at the training's settings, its state saved; then resumed."""
    import torch
    args, n, name = sprint.args, sprint.args.check_iters, 'check_fp16'
    amp = 'bf16' if args.rehearse_on_cpu else 'fp16'  # a CPU trains no fp16
    extra = max(1, n // 4)
    wall, facts = sprint.train(name, amp, n, periods=n + extra, launcher=True, save=n)
    if 'World size (gpu number): 1' not in facts['text']:
        raise SprintError(f'{facts["log"]}: no distributed run of world size 1')
    state = torch.load(os.path.join(args.work, 'experiments', name, 'training_states', f'{n}.state'),
                       map_location='cpu', weights_only=True)
    if amp == 'fp16' and 'grad_scaler' not in state:
        raise SprintError('the fp16 training state holds no grad_scaler')
    rate = facts['iterations_per_second']
    sprint.rate = {'iterations_per_second': rate, 'startup_s': round(max(0.0, wall - n / rate), 1)}
    result = {'fp16': dict(sprint.rate, amp=amp, iterations=n, launcher='torchrun, world size 1', wall_s=round(wall, 1),
                           data_time_s=facts['data_time_s'])}
    _, facts = sprint.train(name, amp, n + extra, periods=n + extra, resume=True)
    if not re.search(rf'Resuming training from epoch: \d+, iter: {n}\.', facts['text']):
        raise SprintError(f'{facts["log"]}: the run did not resume from iteration {n}')
    scaler = {k: v for k, v in state.get('grad_scaler', {}).items() if isinstance(v, (int, float))}
    result['resume'] = {'from_iteration': n, 'to_iteration': n + extra, 'saved_grad_scaler': scaler or None}
    return result


def step_train(sprint):
    args = sprint.args
    if not getattr(sprint, 'rate', None):  # no check, or it failed: a probe run as the training will run
        wall, facts = sprint.train('probe', 'bf16', args.check_iters, save=args.check_iters)
        rate = facts['iterations_per_second']
        sprint.rate = {'iterations_per_second': rate, 'startup_s': round(max(0.0, wall - args.check_iters / rate), 1)}
    failed = []
    for amp in ('bf16', 'none') if args.rehearse_on_cpu else ('bf16', 'fp16', 'none'):
        budget = min(args.minutes * 60, args.deadline_min * 60 - sprint.elapsed() - EVAL_RESERVE_S)
        iters = max(1, int(sprint.rate['iterations_per_second'] * (budget - sprint.rate['startup_s'])))
        sprint.log(f'{iters:,} iterations in {amp}: {sprint.rate["iterations_per_second"]:.2f} it/s for {budget:.0f} s '
                   f'less {sprint.rate["startup_s"]:.0f} s start-up')
        peak, stop = [], threading.Event()
        threading.Thread(target=_watch_memory, args=(peak, stop), daemon=True).start()
        try:
            wall, facts = sprint.train(f'sprint_x4_{amp}', amp, iters,
                                       timeout=args.deadline_min * 60 - sprint.elapsed() - EVAL_RESERVE_S)
            break
        except SprintError as error:
            failed.append(f'{amp}: {error}')
        finally:
            stop.set()
    else:
        raise SprintError('training failed in every precision: ' + '; '.join(failed))
    models = os.path.join(os.path.dirname(facts['log']), 'models')
    found = sorted(glob.glob(os.path.join(models, 'net_g_*.pth')), key=os.path.getmtime)
    if not found:
        raise SprintError(f'{models}: no checkpoint')
    args.checkpoint = os.path.join(models, 'net_g_latest.pth') if wall else found[-1]
    shutil.copyfile(facts['log'], os.path.join(args.out, 'train.log'))
    shutil.copyfile(args.checkpoint, os.path.join(args.out, WEIGHTS))
    from aidn_plugin.zoo.registry import file_sha256
    speed = facts['iterations_per_second']
    return {'amp': amp, 'failed': failed, 'planned_iterations': iters, 'stopped_at_deadline': wall is None,
            'iterations': iters if wall else int(re.sub(r'\D', '', os.path.basename(args.checkpoint))),
            'train_wall_s': wall and round(wall, 1), 'iterations_per_second': speed,
            'images_per_second': speed and round(speed * args.batch, 1), 'data_time_s': facts['data_time_s'],
            'gpu_memory_peak_mib': max(peak) if peak else None, 'loss_curve': facts['loss_curve'],
            'weights': WEIGHTS, 'sha256': file_sha256(os.path.join(args.out, WEIGHTS))}


def _watch_memory(peak, stop):
    while shutil.which('nvidia-smi') and not stop.wait(2):
        out = subprocess.run(['nvidia-smi', '--query-gpu=memory.used', '--format=csv,noheader,nounits'],
                             capture_output=True, text=True).stdout.split()
        peak += [int(out[0])] if out and out[0].isdigit() else []


def step_evaluate(sprint):
    args = sprint.args
    cpu = args.rehearse_on_cpu
    record = evaluate_file(args.checkpoint, args.data, VALIDATION_SETS, args.work, 1 if cpu else 4, 'sprint_x4_test',
                           num_gpu=0 if cpu else 1)
    return {'param_key': record['param_key'], 'sets': record['sets'], 'validation': validation(record['sets']),
            'test_seconds': record['test_seconds']}


def run(args):
    import torch
    args.no_install = args.no_install or args.rehearse_on_cpu
    for flag, value in (('--data', args.data), ('--wheels', None if args.no_install else args.wheels)):
        if value and not os.path.isdir(value):
            raise SprintError(f'{flag} {value}: not a folder')
    args.workers = max(0, (os.cpu_count() or 4) - 2) if args.workers is None else args.workers
    temporary = args.work is None
    args.work = os.path.abspath(args.work or tempfile.mkdtemp(prefix='gpu_sprint_'))
    args.out, args.data = os.path.abspath(args.out), os.path.abspath(args.data)
    os.makedirs(args.work, exist_ok=True)
    paths = ([] if args.no_install else [args.site]) + [ROOT]
    sys.path[:0] = paths
    os.environ['PYTHONPATH'] = os.pathsep.join(paths + [p for p in [os.environ.get('PYTHONPATH')] if p])
    os.environ.update(PYTHONUNBUFFERED='1', PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    sprint = Sprint(args)
    smi = shutil.which('nvidia-smi') and subprocess.run(['nvidia-smi', '--query-gpu=name,memory.total,driver_version',
                                                         '--format=csv,noheader'], capture_output=True, text=True)
    sprint.report['gpu'] = {'nvidia_smi': smi and smi.stdout.strip(), 'torch': torch.__version__,
                            'cuda': torch.version.cuda}
    sprint.report['settings'] = {k: getattr(args, k) for k in ('minutes', 'deadline_min', 'init', 'batch', 'patch',
                                                                'workers', 'lr', 'eta_min', 'ema', 'seed')}
    try:
        if not args.no_install:
            sprint.phase('install', step_install)
        if sprint.phase('preflight', step_preflight):
            if not args.no_check:
                sprint.phase('check', step_check)
            if sprint.phase('train', step_train):
                sprint.phase('evaluate', step_evaluate)
        train, evaluate = sprint.report['phases'].get('train', {}), sprint.report['phases'].get('evaluate', {})
        sprint.report['result'] = {k: train.get(k) for k in (
            'iterations', 'iterations_per_second', 'images_per_second', 'gpu_memory_peak_mib', 'amp', 'weights',
            'sha256', 'loss_curve')}
        sprint.report['result'].update(psnr_y={k: v['psnr'] for k, v in evaluate.get('sets', {}).items()},
                                       validation=evaluate.get('validation'))
    finally:
        if temporary:
            shutil.rmtree(args.work, ignore_errors=True)
    failures = sprint.report['failures']
    sprint.log(f'done in {sprint.elapsed():.0f} s; ' + ('failed: ' + '; '.join(failures) if failures else 'all passed'))
    sprint.save()
    return 1 if failures else 0


# -------------------------------------------------------------------------------------------- publish
def publish_back(args):
    """Evaluate the returned weights, publish them only by the rule; returns (record path, decision)."""
    from aidn_plugin.zoo.registry import file_sha256
    from scripts.bench.quality import check_test_sets
    from scripts.publish_weights import publish
    report_path = os.path.join(args.dir, 'sprint.json')
    try:
        report = json.load(open(report_path, encoding='utf-8'))
        result, settings = report['result'], report['settings']
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SprintError(f'{report_path}: not a sprint\'s JSON ({type(error).__name__}: {error})') from None
    if report.get('rehearsal'):
        raise SprintError(f'{report_path}: a CPU rehearsal\'s output; nothing to publish')
    weights = os.path.join(args.dir, result.get('weights') or WEIGHTS)
    if not os.path.isfile(weights) or file_sha256(weights) != result.get('sha256'):
        raise SprintError(f'{weights}: missing, or not the file {report_path} names (sha256)')
    check_test_sets(args.test_root, EVAL_SETS, SCALE)
    entry, path = zoo_file(args.zoo_dir, NAME)
    stamp = re.sub(r'\D', '', report['date'][:19])
    url_base = entry.url.rsplit('/', 1)[0]
    os.makedirs(args.work_dir, exist_ok=True)
    candidate, sha256, _ = publish(weights, NAME, os.path.join(args.work_dir, f'candidate_{stamp}'),
                                   url_base=url_base, license=entry.license, notes=entry.notes)
    record = evaluate_file(candidate, args.test_root, EVAL_SETS, args.work_dir, args.threads, f'sprint_{stamp}')
    evidence = os.path.join(ROOT, entry.evidence) if entry.evidence else ''
    known = json.load(open(evidence, encoding='utf-8')) if os.path.isfile(evidence) else {}
    if known.get('sha256') == entry.sha256:  # the evidence is of the published file: its unrounded figures
        old_sets, source = known['sets'], entry.evidence
    else:
        old_sets = evaluate_file(path, args.test_root, EVAL_SETS, args.work_dir, args.threads, 'published')['sets']
        source = 'measured now'
    new, old = validation(record['sets']), validation(old_sets)
    record_path = os.path.join(args.record_dir, f'{stamp}.json')
    decision = {'rule': 'published only when the mean Y-PSNR of Set5 and Set14 (basicsr test, border 4) beats the '
                        'published entry\'s; B100 decides nothing',
                'candidate': {'filename': os.path.basename(candidate), 'sha256': sha256, 'sets': record['sets'],
                              'validation': new, 'meta': record['meta']},
                'published_before': {'filename': entry.filename, 'sets': old_sets, 'validation': old,
                                     'figures_from': source},
                'published': new > old}
    if new > old:
        decision['evidence'] = os.path.relpath(os.path.join(args.evidence_dir, f'{NAME}.json'), ROOT)
        rel = os.path.relpath(record_path, ROOT)
        write_json(os.path.join(args.evidence_dir, f'{NAME}.json'),
                   dict(record, written_by='python scripts/gpu_sprint.py publish', sprint=rel))
        start = entry.filename if settings['init'] == 'published' else 'the aidn_x2 body (upsampler, fusion fresh)'
        recipe = (f'GPU sprint (scripts/gpu_sprint.py, {report["date"][:10]}, {report["gpu"]["nvidia_smi"]}, record '
                  f'{rel}): {result["iterations"]:,} iterations from {start}, cosine {settings["lr"]:g} -> '
                  f'{settings["eta_min"]:g}, EMA {settings["ema"]:g}, batch {settings["batch"]}, HR patch '
                  f'{settings["patch"]}, {result["amp"]} AMP, flips/rotations, L1, Adam (betas 0.9/0.99)'
                  + (f'; before it: {entry.recipe}' if settings['init'] == 'published' else ''))
        data = (f'sprint_data (T91 + BSD200 as lossless WebP, scripts/pack_training_data.py): images at least '
                f'{settings["patch"]} px, LR made on the fly with MATLAB-style bicubic')
        published, published_sha, _ = publish(
            candidate, NAME, args.zoo_dir, url_base=url_base, train_data=data, recipe=recipe, license=entry.license,
            notes=entry.notes, evidence=decision['evidence'],
            psnr={k: round(v['psnr'], 2) for k, v in record['sets'].items()})
        if published_sha != sha256:
            raise SprintError(f'{published}: not the evaluated file (sha256)')
        if os.path.basename(published) != entry.filename and os.path.isfile(path):
            os.remove(path)  # the table describes every file beside it; the old one lives in git history
    write_json(record_path, dict(report, publish_back=decision))
    return record_path, decision


def main(argv=None):
    sys.path.insert(0, ROOT)
    from aidn_plugin.cli.errors import OneLineParser, fail
    parser = OneLineParser(prog='gpu_sprint', description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('run', help='on the GPU machine: install, check, train, evaluate')
    for flag, default in (('--out', 'sprint_out'), ('--data', os.path.join(ROOT, 'sprint_data')),
                          ('--wheels', os.path.join(ROOT, 'wheels')), ('--site', '/tmp/aidn_sprint_site'),
                          ('--work', None), ('--init', 'published')):
        p.add_argument(flag, default=default, **({'choices': ('published', 'x2-body')} if flag == '--init' else {}))
    for flag, kind, default in (('--minutes', float, 5), ('--deadline-min', float, 8.5), ('--batch', int, 64),
                                ('--patch', int, 192), ('--workers', int, None), ('--lr', float, 5e-4),
                                ('--eta-min', float, 1e-6), ('--ema', float, 0.999), ('--seed', int, 10),
                                ('--check-iters', int, 200)):
        p.add_argument(flag, type=kind, default=default)
    for flag in ('--no-install', '--no-check', '--rehearse-on-cpu'):
        p.add_argument(flag, action='store_true')
    p = sub.add_parser('publish', help='here: evaluate what came back, publish it by the zoo\'s rule')
    p.add_argument('dir')
    for flag, default in (('--test-root', 'datasets'), ('--zoo-dir', ZOO), ('--evidence-dir', 'benchmarks/zoo_eval'),
                          ('--record-dir', 'benchmarks/gpu_sprint'), ('--work-dir', 'results/gpu_sprint')):
        p.add_argument(flag, default=os.path.join(ROOT, default))
    p.add_argument('--threads', type=int, default=2)
    args = parser.parse_args(argv)
    if args.command == 'run':
        for flag in ('minutes', 'deadline_min', 'batch', 'patch', 'check_iters'):
            if getattr(args, flag) <= 0:
                parser.error(f'--{flag.replace("_", "-")}: expected a positive number')
        if args.patch % SCALE:
            parser.error(f'--patch {args.patch}: expected a multiple of {SCALE}')
        import torch
        if not (args.rehearse_on_cpu or torch.cuda.is_available()):
            fail('gpu_sprint: no CUDA device (torch.cuda.is_available() is False): nothing was installed or '
                 'written; --rehearse-on-cpu rehearses on the CPU')
    from aidn_plugin.archs.aidn_spec import CheckpointError
    from scripts.bench.quality import BenchmarkError
    try:
        if args.command == 'run':
            return run(args)
        record_path, decision = publish_back(args)
    except (SprintError, BenchmarkError, CheckpointError, OSError, ValueError) as error:
        fail(f'gpu_sprint {args.command}: error: {error}', 1)
    print(f'{NAME}: Set5/Set14 mean {decision["candidate"]["validation"]:.4f} dB against '
          f'{decision["published_before"]["validation"]:.4f} dB: {"" if decision["published"] else "not "}published; '
          f'record {record_path}')
    if decision['published']:
        print('commit the zoo folder, the evidence and the record; update the zoo tables of README.md and '
              'docs/model-zoo.md (tests/test_evidence.py checks them)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
