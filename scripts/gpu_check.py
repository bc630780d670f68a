"""The one GPU check: everything of the project that only a CUDA machine can exercise, in one command.

    python3 scripts/gpu_check.py                          # wheels from wheels/, results in gpu_check_out/
    python3 scripts/gpu_check.py --wheels /path/to/wheels --out /tmp/gpu_check

Runs from the repository root on a machine with a CUDA GPU and PyTorch (+ torchvision) already installed,
with no network. On a machine without CUDA it says so in one line and exits with code 2, before it
installs anything. Steps, each recorded in the JSON (a failed step is recorded and the next ones still run):

1. install: ``pip install --no-index --no-deps`` of every wheel in ``--wheels`` whose distribution is not
   installed yet (the pure-Python dependencies, gathered beforehand: docs/contributing.md, "GPU check"), then the project itself with
   ``pip install --no-index --no-deps --no-build-isolation -e .``. Should the editable install fail (a
   read-only environment, an old setuptools), the check goes on with the repository on ``PYTHONPATH`` and
   the commands run as ``python -m aidn_plugin.cli`` / ``python -m aidn_plugin.cli.aidn_cli``; the JSON says
   which. ``--no-install`` skips this step.
2. preflight: every command, option file, data folder, module, function, flag and peer network the later
   steps use exists (:func:`preflight`; the CPU test runs the same function).
3. train: ``basicsr train -opt options/train_AIDN_x4_demo.yml`` through ``torchrun --standalone
   --nproc_per_node=1 ... --launcher pytorch`` (so BasicSR's own nccl initialisation and DDP run), on the
   embedded demo set, ``--train-iters`` iterations (default 300) each in fp32 (``train.amp: none``), fp16
   and bf16; then the fp16 run resumed with ``--auto_resume`` for 50 more iterations (the gradient scaler's
   state comes back from the training state). Recorded: final validation Y-PSNR, wall time, BasicSR's
   logged time per iteration, the scaler's saved state.
4. test: ``basicsr test`` of the fp32 run's checkpoint on the demo validation images, in fp32 and with
   ``val.amp: fp16``: Y-PSNR and SSIM of each.
5. upscale: ``aidn upscale -m aidn_x4`` of a 960x540 image (a demo photograph resized) to 3840x2160 in
   fp32, ``--half`` and ``--precision bf16``, two copies each (the second image's time is the warm one); Y-PSNR of
   each reduced-precision output against the fp32 one.
6. latency: fused AIDN, SAFMN and SPAN (built by ``scripts/bench/peers.py``) at 1280x720 output (x4),
   fp32 and fp16 (``model.half()``), NCHW and channels-last: CUDA events, ``--warmup`` runs then the median
   of ``--repeats``; cudnn.benchmark on; peak memory of each variant.
7. train_step: one AIDN training step (forward, L1, backward, Adam) at batch ``--step-batch`` of 64x64 LR
   patches in fp32, fp16 (with a GradScaler) and bf16 autocast: median time and peak memory.

Output, in ``--out`` (default ``gpu_check_out``): ``gpu_check.json`` and ``gpu_check.log``, rewritten
(atomically, through ``aidn_plugin.utils.atomic``) after every step, so a run cut short still leaves what it
did. Large intermediates (experiments, 4K images) go to ``--work`` (default: a temporary folder, removed at
the end). ``--budget-s`` (default 450): a step that would start after that many seconds is skipped and
marked so. Exit code 0 when every step passed, 1 when any failed, 2 without CUDA or on a usage error.

Options: ``--out``, ``--wheels`` (default ``wheels``), ``--no-install``, ``--work``, ``--train-iters`` (300),
``--workers`` (data loader processes per GPU, 4), ``--repeats`` (50), ``--warmup`` (10), ``--step-batch``
(32), ``--budget-s`` (450), ``--only STEP,...`` (a subset of train,test,upscale,latency,train_step);
for developers, ``--rehearse-on-cpu``: the same steps on the CPU at toy sizes with bf16 in place of fp16 and
no installation, to find a mistake in this script before a GPU run (its figures mean nothing).
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, 'datasets', 'demo')
DEMO_OPTIONS = os.path.join(ROOT, 'options', 'train_AIDN_x4_demo.yml')
TRAIN_MODES = ('none', 'fp16', 'bf16')  # train.amp values; 'none' is fp32
RESUME_EXTRA_ITERS = 50
PEERS = ('aidn_fused', 'safmn', 'span')
LATENCY_SIZE = (1280, 720)  # output width, height; x4 from 320x180
UPSCALE_INPUT = (960, 540)  # -> 3840x2160
STEPS = ('train', 'test', 'upscale', 'latency', 'train_step')
NO_CUDA_EXIT = 2

# What each step runs: on the GPU, and in the CPU rehearsal (--rehearse-on-cpu: the same steps at toy sizes,
# fp16 replaced by bf16, to catch a mistake in this script before a scarce GPU run; its figures mean nothing).
GPU_SETTING = {
    'device': 'cuda', 'train_modes': TRAIN_MODES, 'resume_mode': 'fp16', 'test_amps': ('none', 'fp16'),
    'upscale': (('fp32', []), ('fp16', ['--half']), ('bf16', ['--precision', 'bf16'])),
    'upscale_input': UPSCALE_INPUT, 'latency_size': LATENCY_SIZE, 'latency_precisions': ('fp32', 'fp16'),
    'step_patch': 64, 'resume_extra': RESUME_EXTRA_ITERS,
}
CPU_REHEARSAL = dict(GPU_SETTING, device='cpu', train_modes=('none', 'bf16'), resume_mode='bf16',
                     test_amps=('none', 'bf16'), upscale=(('fp32', []), ('bf16', ['--precision', 'bf16'])),
                     upscale_input=(96, 54), latency_size=(128, 72), latency_precisions=('fp32',), step_patch=8,
                     resume_extra=2)


def refuse_without_cuda():
    """Exit (code 2, one line on stderr) unless PyTorch is importable and sees a CUDA device."""
    try:
        import torch
    except ImportError as error:
        print(f'gpu_check: PyTorch is not importable ({error}); install a CUDA build of torch first',
              file=sys.stderr)
        raise SystemExit(NO_CUDA_EXIT)
    if not torch.cuda.is_available():
        print('gpu_check: no CUDA device (torch.cuda.is_available() is False): this check needs a GPU; '
              'nothing was installed or run', file=sys.stderr)
        raise SystemExit(NO_CUDA_EXIT)


# ------------------------------------------------------------------------------------------------ commands
def commands(installed):
    """How to call each tool: the console script next to this interpreter when the install made one,
    else the module form (same code: the console scripts are thin wrappers of these mains)."""
    bin_dir = os.path.dirname(sys.executable)

    def tool(name, module):
        path = os.path.join(bin_dir, name)
        return [path] if installed and os.path.exists(path) else [sys.executable, '-m', module]

    return {
        'basicsr': tool('basicsr', 'aidn_plugin.cli'),
        'aidn': tool('aidn', 'aidn_plugin.cli.aidn_cli'),
        # torchrun runs a module with -m; the basicsr console script is aidn_plugin.cli's main
        'torchrun': [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=1',
                     '-m', 'aidn_plugin.cli'],
    }


def train_overrides(mode, iters, workers, name=None, extra=RESUME_EXTRA_ITERS):
    """``--force_yml`` entries for one check training (absolute dataroots: runs stand outside the repo)."""
    return [
        f'name={name or "gpu_check_" + ("fp32" if mode == "none" else mode)}', f'train:amp={mode}',
        f'datasets:train:dataroot_gt={DEMO}/train/HR', f'datasets:val:dataroot_gt={DEMO}/val/HR',
        f'datasets:val:dataroot_lq={DEMO}/val/LR_bicubic/X4', f'datasets:train:num_worker_per_gpu={workers}',
        f'train:total_iter={iters}', f'train:scheduler:periods=[{iters + extra}]',
        f'val:val_freq={iters}', f'logger:save_checkpoint_freq={max(iters // 2, 1)}', 'logger:print_freq=50',
    ]


def test_options(checkpoint, val_amp='none'):
    """A ``basicsr test`` option dict: the demo network on the demo validation images."""
    import yaml
    with open(DEMO_OPTIONS, encoding='utf-8') as handle:
        demo = yaml.safe_load(handle)
    return {
        'name': f'gpu_check_test_{"fp32" if val_amp == "none" else val_amp}', 'model_type': 'AIDNModel',
        'scale': 4, 'num_gpu': 'auto', 'manual_seed': 0,
        'datasets': {'test_1': {'name': 'demo_val', 'type': 'EdgePairedImageDataset',
                                'dataroot_gt': f'{DEMO}/val/HR', 'dataroot_lq': f'{DEMO}/val/LR_bicubic/X4',
                                'filename_tmpl': '{}', 'io_backend': {'type': 'disk'}}},
        'network_g': demo['network_g'],
        'path': {'pretrain_network_g': checkpoint, 'param_key_g': 'params_ema', 'strict_load_g': True},
        'val': {'save_img': False, 'amp': val_amp,
                'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': True},
                            'ssim': {'type': 'calculate_ssim', 'crop_border': 4, 'test_y_channel': True}}},
    }


def repo_module(name):
    """The module ``name`` of this repository (``scripts.bench.*``), importable however the check was started."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    import importlib
    return importlib.import_module(name)


def load_peers():
    """``scripts.bench.peers`` (the benchmarks' network builder)."""
    return repo_module('scripts.bench.peers')


def preflight(tools=None):
    """Everything the later steps call, checked without a GPU. Returns a list of problems (empty = ready)."""
    problems = []
    for path in (DEMO_OPTIONS, f'{DEMO}/train/HR', f'{DEMO}/val/HR', f'{DEMO}/val/LR_bicubic/X4'):
        if not os.path.exists(path):
            problems.append(f'missing: {os.path.relpath(path, ROOT)}')
    for name, command in (tools or commands(installed=True)).items():
        if command[0] != sys.executable and not os.path.exists(command[0]):
            problems.append(f'command {name}: {command[0]} not found')
    import importlib
    needs = {
        'torch.distributed.run': ('main',), 'torch.amp': ('GradScaler',),
        'aidn_plugin.cli.basicsr_cli': ('main',), 'aidn_plugin.cli.aidn_cli': ('main',),
        'aidn_plugin.cli.upscale_cmd': ('pick_precision', 'PRECISIONS'),
        'aidn_plugin.utils.amp': ('autocast', 'parse_amp'), 'aidn_plugin.utils.atomic': ('write_text',),
        'aidn_plugin.models.aidn_model': ('AIDNModel',), 'aidn_plugin.archs.aidn_arch': ('AIDN',),
        'aidn_plugin.edges': ('edge_map',), 'aidn_plugin.zoo': ('get_entry', 'load_model'),
        'basicsr.metrics': ('calculate_psnr',), 'cv2': ('imread', 'resize'), 'yaml': ('safe_dump',),
        'spandrel.architectures.SAFMN': ('SAFMN',), 'spandrel.architectures.SPAN': ('SPAN',),
    }
    for module_name, attributes in needs.items():
        try:
            module = importlib.import_module(module_name)
        except Exception as error:  # any import failure is a missing piece here
            problems.append(f'module {module_name}: {type(error).__name__}: {error}')
            continue
        problems += [f'{module_name}.{a} missing' for a in attributes if not hasattr(module, a)]
    try:
        from aidn_plugin import zoo
        zoo.get_entry('aidn_x4')
        peers = load_peers()
        for name in PEERS:
            if name not in peers.PEERS:
                problems.append(f'peer {name} not in peers.PEERS')
    except Exception as error:
        problems.append(f'zoo / peers: {type(error).__name__}: {error}')
    problems += _flag_problems()
    return problems


def _flag_problems():
    """The flags the steps pass exist in the parsers (read from the parsers, not from --help text)."""
    import argparse as argparse_module

    from aidn_plugin.cli import upscale_cmd
    from aidn_plugin.cli.basicsr_cli import _flag_parser
    problems = []
    train_flags = {a for action in _flag_parser('train')._actions for a in action.option_strings}
    for flag in ('-opt', '--launcher', '--auto_resume', '--force_yml'):
        if flag not in train_flags:
            problems.append(f'basicsr train has no {flag}')
    sub = argparse_module.ArgumentParser().add_subparsers()
    upscale_cmd.add_parser(sub)
    upscale_flags = {a for action in sub.choices['upscale']._actions for a in action.option_strings}
    for flag in ('-o', '-m', '--device', '--half', '--precision', '--force', '--tile'):
        if flag not in upscale_flags:
            problems.append(f'aidn upscale has no {flag}')
    return problems


# ------------------------------------------------------------------------------------------------ the run
class Check:
    """The JSON report and the log, rewritten atomically after every step."""

    def __init__(self, out, budget_s, setting=GPU_SETTING):
        self.out = out
        self.budget_s = budget_s
        self.setting = setting
        self.start = time.monotonic()
        self.lines = []
        self.report = {'date': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
                       'host': platform.node(), 'python': platform.python_version(), 'steps': {},
                       'failures': []}

    def log(self, text):
        stamp = f'[{time.monotonic() - self.start:7.1f} s] '
        for line in str(text).splitlines() or ['']:
            print(stamp + line, flush=True)
            self.lines.append(stamp + line)

    def save(self):
        from aidn_plugin.utils.atomic import write_text
        self.report['wall_s'] = round(time.monotonic() - self.start, 1)
        write_text(os.path.join(self.out, 'gpu_check.json'), json.dumps(self.report, indent=2) + '\n')
        write_text(os.path.join(self.out, 'gpu_check.log'), '\n'.join(self.lines) + '\n')

    def step(self, name, function, *args):
        elapsed = time.monotonic() - self.start
        if elapsed > self.budget_s:
            self.report['steps'][name] = {'skipped': f'time budget: {elapsed:.0f} s > {self.budget_s} s'}
            self.log(f'== {name}: skipped (time budget)')
            return None
        self.log(f'== {name}')
        begin = time.monotonic()
        try:
            result = function(self, *args)
        except Exception as error:  # one failed step must not cost the others on a scarce GPU
            import traceback
            self.log(traceback.format_exc())
            result = {'error': f'{type(error).__name__}: {error}'}
            self.report['failures'].append(f'{name}: {type(error).__name__}: {error}')
        result = dict(result or {}, wall_s=round(time.monotonic() - begin, 1))
        self.report['steps'][name] = result
        self.save()
        return result

    def run(self, command, cwd=None, timeout=300, env=None):
        """Run a command, log it and the tail of its output; CalledProcessError on a non-zero exit."""
        self.log('$ ' + ' '.join(command))
        full_env = dict(os.environ, PYTHONUNBUFFERED='1', PYTHONWARNINGS='ignore')
        full_env['PYTHONPATH'] = os.pathsep.join(p for p in (ROOT, full_env.get('PYTHONPATH')) if p)
        full_env.update(env or {})
        begin = time.monotonic()
        result = subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
        output = (result.stdout + result.stderr).strip().splitlines()
        self.log('\n'.join(output[-15:] if result.returncode == 0 else output[-80:]))
        self.log(f'-> exit {result.returncode} in {time.monotonic() - begin:.1f} s')
        if result.returncode != 0:
            raise subprocess.CalledProcessError(result.returncode, command[:4], output='\n'.join(output[-5:]))
        return result, time.monotonic() - begin


def _installed(name):
    from importlib import metadata
    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def step_install(check, wheels):
    wheel_files = sorted(glob.glob(os.path.join(wheels, '*.whl'))) if os.path.isdir(wheels) else []
    pip = [sys.executable, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps', '--no-cache-dir']
    # a distribution already installed (any version) is left as it is: the machine's own packages win
    present = [w for w in wheel_files if _installed(os.path.basename(w).split('-')[0])]
    wheel_files = [w for w in wheel_files if w not in present]
    result = {'wheels': [os.path.basename(w) for w in wheel_files],
              'already_installed': [os.path.basename(w) for w in present]}
    if wheel_files:
        check.run(pip + wheel_files, timeout=300)
    else:
        check.log(f'no wheel to install from {wheels}: using what is installed')
    try:
        check.run(pip + ['--no-build-isolation', '-e', ROOT], timeout=300)
        result['project'] = 'editable install'
    except subprocess.CalledProcessError as error:
        check.log(f'editable install failed ({error.output}); going on with the repository on PYTHONPATH')
        result['project'] = 'PYTHONPATH (editable install failed)'
    return result


def step_preflight(check, tools):
    problems = preflight(tools)
    for problem in problems:
        check.log('preflight: ' + problem)
    if problems:
        raise RuntimeError(f'{len(problems)} missing piece(s): {"; ".join(problems)}')
    return {'ok': True}


def _log_facts(log_path):
    text = open(log_path, encoding='utf-8').read()
    psnr = [float(v) for v in re.findall(r'# psnr: ([0-9.]+)', text)]
    ssim = [float(v) for v in re.findall(r'# ssim: ([0-9.]+)', text)]
    iter_time = [float(v) for v in re.findall(r'time \(data\): ([0-9.]+)', text)]
    return text, {'final_psnr_y': psnr[-1] if psnr else None, 'final_ssim_y': ssim[-1] if ssim else None,
                  'logged_s_per_iter': iter_time[-1] if iter_time else None}


def _newest(pattern):
    found = sorted(glob.glob(pattern), key=os.path.getmtime)
    if not found:
        raise FileNotFoundError(f'nothing matches {pattern}')
    return found[-1]


def _train_one(check, tools, work, mode, iters, workers):
    label = 'fp32' if mode == 'none' else mode
    command = tools['torchrun'] + ['train', '-opt', DEMO_OPTIONS, '--launcher', 'pytorch', '--force_yml',
                                   *train_overrides(mode, iters, workers, extra=check.setting['resume_extra'])]
    _, wall = check.run(command, cwd=work, timeout=240)
    experiment = os.path.join(work, 'experiments', f'gpu_check_{label}')
    text, facts = _log_facts(_newest(os.path.join(experiment, 'train_*.log')))
    if 'World size (gpu number): 1' not in text:
        raise RuntimeError(f'{label}: the log does not show a distributed run of world size 1')
    check.log(f'{label}: final Y-PSNR {facts["final_psnr_y"]} dB, {facts["logged_s_per_iter"]} s/iter')
    return dict(facts, iterations=iters, command_wall_s=round(wall, 1))


def step_train(check, tools, work, iters, workers):
    import torch
    results = {}
    for mode in check.setting['train_modes']:  # each on its own: a failure in one still lets the others run
        label = 'fp32' if mode == 'none' else mode
        try:
            results[label] = _train_one(check, tools, work, mode, iters, workers)
        except Exception as error:
            results[label] = {'error': f'{type(error).__name__}: {error}'}
            check.report['failures'].append(f'train {label}: {type(error).__name__}: {error}')
            check.log(f'train {label} failed: {error}')
    resume = check.setting['resume_mode']
    if 'error' in results[resume]:
        return results

    # fp16 resumed: the scaler's state is in the training state and comes back
    experiment = os.path.join(work, 'experiments', f'gpu_check_{resume}')
    state = torch.load(os.path.join(experiment, 'training_states', f'{iters}.state'), map_location='cpu',
                       weights_only=True)
    if resume == 'fp16' and 'grad_scaler' not in state:
        raise RuntimeError('fp16 training state has no grad_scaler entry')
    extra = check.setting['resume_extra']
    overrides = train_overrides(resume, iters, workers, extra=extra) + [f'train:total_iter={iters + extra}']
    command = tools['torchrun'] + ['train', '-opt', DEMO_OPTIONS, '--launcher', 'pytorch', '--auto_resume',
                                   '--force_yml', *overrides]
    _, wall = check.run(command, cwd=work, timeout=240)
    text, facts = _log_facts(_newest(os.path.join(experiment, 'train_*.log')))
    if not re.search(rf'Resuming training from epoch: \d+, iter: {iters}\.', text):
        raise RuntimeError(f'the resumed {resume} run did not resume from iteration {iters}')
    results[f'{resume}_resumed'] = dict(facts, iterations=iters + extra, command_wall_s=round(wall, 1),
                                        saved_scaler={k: v for k, v in state.get('grad_scaler', {}).items()
                                                      if isinstance(v, (int, float))})
    return results


def step_test(check, tools, work):
    from aidn_plugin.utils.atomic import write_text
    import yaml
    checkpoint = os.path.join(work, 'experiments', 'gpu_check_fp32', 'models', 'net_g_latest.pth')
    results = {}
    for val_amp in check.setting['test_amps']:
        opt = test_options(checkpoint, val_amp)
        path = os.path.join(work, f'{opt["name"]}.yml')
        write_text(path, yaml.safe_dump(opt, sort_keys=False))
        check.run(tools['basicsr'] + ['test', '-opt', path], cwd=work, timeout=180)
        _, facts = _log_facts(_newest(os.path.join(work, 'results', opt['name'], 'test_*.log')))
        results['fp32' if val_amp == 'none' else val_amp] = facts
    return results


def step_upscale(check, tools, work):
    import cv2
    from basicsr.metrics import calculate_psnr
    source = cv2.imread(os.path.join(DEMO, 'val', 'HR', 'coffee.png'))
    image = cv2.resize(source, check.setting['upscale_input'], interpolation=cv2.INTER_CUBIC)
    inputs = os.path.join(work, 'upscale_in')
    os.makedirs(inputs, exist_ok=True)
    for name in ('a.png', 'b.png'):  # b is the warm run
        cv2.imwrite(os.path.join(inputs, name), image)
    results, outputs = {}, {}
    for label, flags in check.setting['upscale']:
        outputs[label] = os.path.join(work, f'upscale_{label}')
        result, wall = check.run(tools['aidn'] + ['upscale', inputs, '-o', outputs[label], '-m', 'aidn_x4',
                                                  '--device', check.setting['device'], '--force', *flags],
                                 timeout=180)
        # "<in> -> <out> (960x540 -> 3840x2160, 1.2 s)" per image, in the order they ran: the last is warm
        times = [float(v) for v in re.findall(r' -> \d+x\d+, ([0-9.]+) s\)', result.stdout)]
        results[label] = {'flags': ' '.join(flags) or '(none)', 'image_s': times,
                          'warm_image_s': times[-1] if times else None, 'command_wall_s': round(wall, 1)}
    reference = cv2.imread(os.path.join(outputs['fp32'], 'a.png'))
    results['output_shape'] = list(reference.shape)
    for label, _ in check.setting['upscale'][1:]:
        candidate = cv2.imread(os.path.join(outputs[label], 'a.png'))
        results[label]['psnr_y_vs_fp32'] = round(float(calculate_psnr(candidate, reference, 4, test_y_channel=True)), 2)
    return results


def _peak_bytes(device):
    import torch
    return torch.cuda.max_memory_allocated(device) if device.type == 'cuda' else None


def _reset_peak(device):
    import torch
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def measure_latency(device, size=LATENCY_SIZE, warmup=10, repeats=50, precisions=('fp32', 'fp16'), peers=PEERS):
    """Latency of each peer network at ``size`` output (x4): precision x memory format -> ms and peak MiB."""
    import torch
    module, timing = load_peers(), repo_module('scripts.bench.timing')
    dtypes = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}
    width, height = size
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True
    results = {}
    for name in peers:
        results[name] = {}
        for precision in precisions:
            for layout, memory_format in (('nchw', torch.contiguous_format), ('channels_last', torch.channels_last)):
                model = module.build(name, scale=4).to(device=device, dtype=dtypes[precision],
                                                       memory_format=memory_format)
                x = torch.rand(1, 3, height // 4, width // 4, device=device, dtype=dtypes[precision])
                x = x.contiguous(memory_format=memory_format)
                _reset_peak(device)
                with torch.inference_mode():
                    seconds = timing.time_call(lambda: model(x), warmup, repeats, device)
                peak = _peak_bytes(device)
                results[name][f'{precision}_{layout}'] = {
                    'median_ms': round(seconds * 1e3, 3),
                    'peak_mib': round(peak / 2 ** 20, 1) if peak is not None else None}
                del model, x
    return results


def measure_train_step(device, batch=32, patch=64, warmup=5, repeats=20, modes=TRAIN_MODES):
    """One AIDN training step (forward, L1, backward, Adam) per AMP mode: median ms and peak MiB."""
    import torch
    import torch.nn.functional as F

    from aidn_plugin import edges
    from aidn_plugin.archs.aidn_arch import AIDN
    from aidn_plugin.utils import amp
    generator = torch.Generator().manual_seed(0)
    lq = torch.rand(batch, 3, patch, patch, generator=generator).to(device)
    gt = torch.rand(batch, 3, patch * 4, patch * 4, generator=generator).to(device)
    edge = edges.edge_map(lq)  # AIDNModel feeds the dataset's edge map
    results = {}
    for mode in modes:
        torch.manual_seed(0)
        net = AIDN().to(device).train()
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
        scaler = torch.amp.GradScaler(device.type, enabled=mode == 'fp16')

        def step():
            optimizer.zero_grad(set_to_none=True)
            with amp.autocast(mode, device.type):
                out = net(lq, edge)
            loss = F.l1_loss(out.float(), gt)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

        _reset_peak(device)
        seconds = repo_module('scripts.bench.timing').time_call(step, warmup, repeats, device)
        peak = _peak_bytes(device)
        results['fp32' if mode == 'none' else mode] = {
            'median_ms': round(seconds * 1e3, 3), 'peak_mib': round(peak / 2 ** 20, 1) if peak is not None else None}
        del net, optimizer
    results['setting'] = f'AIDN defaults (training form), batch {batch}, {patch}x{patch} LR -> x4, L1, Adam'
    return results


def step_latency(check, warmup, repeats):
    import torch
    device = torch.device(check.setting['device'])
    size = check.setting['latency_size']
    results = measure_latency(device, size, warmup, repeats, check.setting['latency_precisions'])
    for name, variants in results.items():
        check.log(f'{name}: ' + ', '.join(f'{k} {v["median_ms"]} ms' for k, v in variants.items()))
    return {'output_size': '{}x{}'.format(*size), 'scale': 4, 'warmup': warmup, 'repeats': repeats,
            'cudnn_benchmark': True, 'cudnn_allow_tf32': torch.backends.cudnn.allow_tf32, 'networks': results}


def step_train_step(check, batch):
    import torch
    results = measure_train_step(torch.device(check.setting['device']), batch=batch,
                                 patch=check.setting['step_patch'], modes=check.setting['train_modes'])
    check.log(json.dumps(results))
    return results


def gpu_facts():
    import torch
    if not torch.cuda.is_available():
        return {'name': None, 'rehearsal': 'on the CPU', 'torch': torch.__version__}
    props = torch.cuda.get_device_properties(0)
    return {'name': props.name, 'capability': f'{props.major}.{props.minor}',
            'memory_gib': round(props.total_memory / 2 ** 30, 1), 'count': torch.cuda.device_count(),
            'torch': torch.__version__, 'cuda': torch.version.cuda, 'cudnn': torch.backends.cudnn.version()}


def main(argv=None):
    parser = argparse.ArgumentParser(description='The GPU check of aidn-plugin (see the module docstring).')
    parser.add_argument('--out', default='gpu_check_out')
    parser.add_argument('--wheels', default=os.path.join(ROOT, 'wheels'))
    parser.add_argument('--no-install', action='store_true')
    parser.add_argument('--work', default=None)
    parser.add_argument('--train-iters', type=int, default=300)
    parser.add_argument('--workers', type=int, default=4)
    parser.add_argument('--repeats', type=int, default=50)
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--step-batch', type=int, default=32)
    parser.add_argument('--budget-s', type=float, default=450)
    parser.add_argument('--only', default=','.join(STEPS))
    parser.add_argument('--rehearse-on-cpu', action='store_true',
                        help='developers: the steps on the CPU at toy sizes (no install), to test this script')
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(',') if s.strip()]
    unknown = sorted(set(only) - set(STEPS))
    if unknown:
        parser.error(f'--only: unknown step(s) {", ".join(unknown)}; expected some of {", ".join(STEPS)}')
    if args.train_iters < 2:
        parser.error('--train-iters: expected at least 2')
    if args.rehearse_on_cpu:
        args.no_install = True
    else:
        refuse_without_cuda()  # before anything is installed or written

    out = os.path.abspath(args.out)  # relative to where the user stands, before the chdir
    wheels = os.path.abspath(args.wheels)
    work = os.path.abspath(args.work) if args.work else tempfile.mkdtemp(prefix='gpu_check_')
    os.chdir(ROOT)
    sys.path.insert(0, ROOT)  # aidn_plugin from the repository, before and after the install
    os.makedirs(out, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    check = Check(out, args.budget_s, CPU_REHEARSAL if args.rehearse_on_cpu else GPU_SETTING)
    check.report['gpu'] = gpu_facts()
    check.log(json.dumps(check.report['gpu']))
    try:
        installed = False
        if not args.no_install:
            install = check.step('install', step_install, wheels)
            installed = install.get('project') == 'editable install'
        tools = commands(installed)
        check.report['commands'] = {name: ' '.join(command) for name, command in tools.items()}
        check.step('preflight', step_preflight, tools)
        plan = {'train': (step_train, tools, work, args.train_iters, args.workers),
                'test': (step_test, tools, work), 'upscale': (step_upscale, tools, work),
                'latency': (step_latency, args.warmup, args.repeats), 'train_step': (step_train_step, args.step_batch)}
        for name in STEPS:
            if name in only:
                function, *step_args = plan[name]
                check.step(name, function, *step_args)
    finally:
        check.save()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    failures = check.report['failures']
    check.log(f'done in {time.monotonic() - check.start:.0f} s; ' +
              (f'{len(failures)} step(s) failed: {"; ".join(failures)}' if failures else 'every step passed'))
    check.save()
    return 1 if failures else 0


if __name__ == '__main__':
    raise SystemExit(main())
