"""scripts/gpu_check.py on a machine without a GPU: it refuses in one line before doing anything, and
everything it will call on a GPU exists (commands, option files, data, modules, flags, peer networks); its
option overrides pass the same checks the real run applies, and its measuring functions run (on the CPU,
tiny sizes)."""
import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

from helpers import run

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / 'scripts' / 'gpu_check.py'


@pytest.fixture(scope='module')
def gpu_check():
    spec = importlib.util.spec_from_file_location('gpu_check', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU: the refusal does not apply')
def test_refuses_without_cuda_in_one_line_before_anything(tmp_path):
    out = tmp_path / 'out'
    result = run([sys.executable, str(SCRIPT), '--out', str(out), '--wheels', str(tmp_path / 'wheels')],
                 cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == ('gpu_check: no CUDA device (torch.cuda.is_available() is False): this check '
                                     'needs a GPU; nothing was installed or run')
    assert result.stdout == ''
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_usage_errors_come_first(tmp_path):
    result = run([sys.executable, str(SCRIPT), '--only', 'trian'], cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "unknown step(s) trian" in result.stderr


def test_everything_the_script_calls_exists(gpu_check):
    assert gpu_check.preflight() == []
    # the module forms too (the fallback when the editable install fails)
    assert gpu_check.preflight(gpu_check.commands(installed=False)) == []
    peers = gpu_check.load_peers()
    for name in gpu_check.PEERS:
        model = peers.build(name, scale=4)
        assert peers.check_output_shape(model, 4) == (1, 3, 32, 48)


@pytest.mark.parametrize('mode', ['none', 'bf16'])
def test_training_overrides_pass_the_option_checks(gpu_check, mode, tmp_path, monkeypatch):
    # fp16 is refused on this CPU by design; the keys it sets are the same as bf16's
    from aidn_plugin.cli.option_checks import check_option_file
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('WORLD_SIZE', '1')
    args = argparse.Namespace(launcher='pytorch', force_yml=gpu_check.train_overrides(mode, 300, 4))
    opt = check_option_file(gpu_check.DEMO_OPTIONS, 'train', args)
    from aidn_plugin.utils.amp import parse_amp
    assert parse_amp(opt['train']['amp'], 'train.amp') == mode and opt['train']['total_iter'] == 300
    assert opt['train']['scheduler']['periods'] == [300 + gpu_check.RESUME_EXTRA_ITERS]
    assert opt['dist_params']['backend'] == 'nccl'


def test_test_options_pass_the_option_checks(gpu_check, tmp_path):
    from aidn_plugin.cli.option_checks import check_option_file
    checkpoint = tmp_path / 'net_g_latest.pth'
    checkpoint.write_bytes(b'')
    path = tmp_path / 'test.yml'
    path.write_text(yaml.safe_dump(gpu_check.test_options(str(checkpoint)), sort_keys=False))
    opt = check_option_file(str(path), 'test', argparse.Namespace(launcher='none', force_yml=None))
    assert opt['val']['amp'] == 'none' and opt['path']['param_key_g'] == 'params_ema'


def test_measuring_functions_run_on_the_cpu(gpu_check):
    device = torch.device('cpu')
    torch.set_num_threads(1)
    latency = gpu_check.measure_latency(device, size=(64, 32), warmup=0, repeats=1, precisions=('fp32',))
    assert set(latency) == set(gpu_check.PEERS)
    assert all(set(v) == {'fp32_nchw', 'fp32_channels_last'} for v in latency.values())
    step = gpu_check.measure_train_step(device, batch=1, patch=8, warmup=0, repeats=1, modes=('none', 'bf16'))
    assert step['fp32']['median_ms'] > 0 and step['bf16']['median_ms'] > 0


@pytest.mark.slow
def test_cpu_rehearsal_of_the_quick_steps(tmp_path):
    # the real script end to end on the CPU at toy sizes (upscale through the real aidn command, latency,
    # training step); the trainings' rehearsal takes minutes here: run it by hand (docs/contributing.md, "GPU check")
    out = tmp_path / 'out'
    result = run([sys.executable, str(SCRIPT), '--rehearse-on-cpu', '--only', 'upscale,latency,train_step',
                  '--repeats', '1', '--warmup', '0', '--step-batch', '1', '--out', str(out)], timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    report = json.loads((out / 'gpu_check.json').read_text())
    assert report['failures'] == [] and set(report['steps']) == {'preflight', 'upscale', 'latency', 'train_step'}
    assert report['steps']['upscale']['bf16']['psnr_y_vs_fp32'] > 40
    assert (out / 'gpu_check.log').read_text().rstrip().endswith('every step passed')


def test_the_docs_document_the_one_command():
    page = (ROOT / 'docs' / 'contributing.md').read_text()
    assert 'python3 scripts/gpu_check.py' in page
    assert 'pip download' in page and '--no-index' in page


def test_wheels_from_installed_packs_pure_python_only(tmp_path):
    import zipfile
    tool = ROOT / 'scripts' / 'wheels_from_installed.py'
    result = run([sys.executable, str(tool), '--out', str(tmp_path), 'addict'], timeout=120)
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob('addict-*-py3-none-any.whl')
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert 'addict/__init__.py' in names and not any('__pycache__' in n for n in names)
        record = archive.read(next(n for n in names if n.endswith('.dist-info/RECORD'))).decode()
        assert 'addict/__init__.py,sha256=' in record
    result = run([sys.executable, str(tool), '--out', str(tmp_path), 'torch'], timeout=120)
    assert result.returncode == 1 and result.stderr.strip().count('\n') == 0
    assert 'torch is not a pure-Python py3-none-any distribution' in result.stderr
