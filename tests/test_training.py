"""Training and evaluation through BasicSR's own pipelines: `basicsr train`, torchrun, resume, `basicsr test`.

Tiny networks, tiny photo crops, a few iterations each, on the CPU.
"""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from helpers import run, script, write_photo_crops

TINY_NET = {'type': 'AIDN', 'num_feat': 8, 'num_block': 2, 'num_out': 2, 'upscale': 4}


def train_options(name, gt_folder, total_iter=8, save_freq=4, val_freq=1000, batch=2, model_type='AIDNModel',
                  workers=0):
    """A small, complete BasicSR training option dict (on-the-fly LR from GT, validation on the same crops)."""
    dataset = {'type': 'EdgePairedImageDataset', 'dataroot_gt': str(gt_folder), 'io_backend': {'type': 'disk'}}
    return {
        'name': name,
        'model_type': model_type,
        'scale': 4,
        'num_gpu': 0,
        'manual_seed': 0,
        'datasets': {
            'train': dict(dataset, name='crops', gt_size=32, use_hflip=True, use_rot=True,
                          num_worker_per_gpu=workers, batch_size_per_gpu=batch, dataset_enlarge_ratio=4),
            'val': dict(dataset, name='crops_val'),
        },
        'network_g': dict(TINY_NET),
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {
            'ema_decay': 0.9,
            'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.99]},
            'scheduler': {'type': 'CosineAnnealingRestartLR', 'periods': [100000], 'restart_weights': [1],
                          'eta_min': 1e-6},
            'total_iter': total_iter,
            'warmup_iter': -1,
            'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'},
        },
        'val': {'val_freq': val_freq, 'save_img': False,
                'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': True}}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': save_freq, 'use_tb_logger': False},
    }


def write_options(folder, opt, filename='opt.yml'):
    path = Path(folder) / filename
    path.write_text(yaml.safe_dump(opt, sort_keys=False))
    return path


@pytest.fixture
def crops(tmp_path):
    return write_photo_crops(tmp_path / 'gt', count=6, size=48)


def train_log(root, name, kind='train'):
    logs = sorted((root / ('experiments' if kind == 'train' else 'results') / name).glob(f'{kind}_{name}_*.log'))
    assert logs, f'no {kind} log under {root}'
    return logs[-1].read_text()


def iter_tag(n):
    """How BasicSR's MessageLogger prints an iteration number."""
    return f'iter:{n:8,d},'


def load_checkpoint(path):
    return torch.load(path, map_location='cpu', weights_only=True)


@pytest.mark.slow
def test_basicsr_train_writes_checkpoint_and_validation_psnr(tmp_path, crops):
    write_options(tmp_path, train_options('tiny_train', crops))
    result = run([script('basicsr'), 'train', '-opt', 'opt.yml'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    models = tmp_path / 'experiments' / 'tiny_train' / 'models'
    checkpoint = load_checkpoint(models / 'net_g_latest.pth')
    assert set(checkpoint) == {'params', 'params_ema'}
    assert (models / 'net_g_8.pth').exists()
    assert (tmp_path / 'experiments' / 'tiny_train' / 'training_states' / '8.state').exists()
    log = train_log(tmp_path, 'tiny_train')
    assert iter_tag(8) in log
    psnr = [float(v) for v in re.findall(r'# psnr: ([0-9.]+)', log)]
    assert psnr and all(10 < v < 60 for v in psnr)
    # the edge the dataset supplies reaches the network: the model class is ours
    assert 'Model [AIDNModel] is created.' in log


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path, crops):
    opt = train_options('tiny_ddp', crops, total_iter=6, model_type='RankDumpAIDNModel', val_freq=100000)
    write_options(tmp_path, opt)
    worker = Path(__file__).with_name('dist_train_worker.py')
    result = run([script('torchrun'), '--standalone', '--nproc_per_node=2', str(worker), 'train', '-opt', 'opt.yml',
                  '--launcher', 'pytorch'], cwd=tmp_path, timeout=300)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    root = tmp_path / 'experiments' / 'tiny_ddp'
    rank0, rank1 = load_checkpoint(root / 'rank0_net_g.pth'), load_checkpoint(root / 'rank1_net_g.pth')
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    # and training changed them (the ranks did not merely stay at a shared initialisation)
    first = load_checkpoint(root / 'models' / 'net_g_4.pth')['params']
    assert any(not torch.equal(first[k], rank0[k]) for k in rank0)
    log = train_log(tmp_path, 'tiny_ddp')
    assert 'World size (gpu number): 2' in log
    assert log.count('Validation crops_val') == 1  # once, at the end, on rank 0 only


def _wait_for(predicate, timeout, process):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def _state_iters(folder):
    return sorted(int(p.name[:-len('.state')]) for p in folder.glob('*.state'))


def train_then_kill(folder, name, states_wanted, timeout):
    """Run ``basicsr train -opt opt.yml`` in ``folder`` and SIGKILL it once ``states_wanted`` training states
    of experiment ``name`` exist (a kill at an arbitrary point of a real run). Returns the states folder."""
    states = folder / 'experiments' / name / 'training_states'
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    process = subprocess.Popen([script('basicsr'), 'train', '-opt', 'opt.yml'], cwd=folder, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert _wait_for(lambda: len(_state_iters(states)) >= states_wanted, timeout, process), \
            'no training state was written'
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    return states


def resume_and_check_continuation(folder, name, saved, more):
    """``basicsr train --auto_resume`` for ``more`` iterations past the state of iteration ``saved``; checks
    that the run resumed there (no iteration 1 after the resume) and wrote the state of ``saved + more``.
    Returns the log."""
    result = run([script('basicsr'), 'train', '-opt', 'opt.yml', '--auto_resume', '--force_yml',
                  f'train:total_iter={saved + more}'], cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    log = train_log(folder, name)
    resumed_part = re.split(rf'Resuming training from epoch: \d+, iter: {saved}\.', log)[1]
    assert iter_tag(saved + 1) in resumed_part and iter_tag(1) not in resumed_part
    assert _state_iters(folder / 'experiments' / name / 'training_states')[-1] == saved + more
    return log


@pytest.mark.slow
def test_sigkill_then_auto_resume_continues_from_last_state(tmp_path, crops):
    opt = train_options('tiny_resume', crops, total_iter=100000, save_freq=3)
    write_options(tmp_path, opt)
    states = train_then_kill(tmp_path, 'tiny_resume', states_wanted=2, timeout=120)
    saved = _state_iters(states)[-1]
    models = tmp_path / 'experiments' / 'tiny_resume' / 'models'
    # atomic writes: no checkpoint under its final name is truncated, whatever the kill interrupted
    for path in list(models.glob('*.pth')) + list(states.glob('*.state')):
        load_checkpoint(path)

    # resume with total_iter = the saved iteration: no new step, so the saved "latest" weights are exactly
    # the weights the resumed run loaded (params and the EMA copy)
    result = run([script('basicsr'), 'train', '-opt', 'opt.yml', '--auto_resume', '--force_yml',
                  f'train:total_iter={saved}'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(rf'Resuming training from epoch: \d+, iter: {saved}\.', train_log(tmp_path, 'tiny_resume'))
    loaded, stored = load_checkpoint(models / 'net_g_latest.pth'), load_checkpoint(models / f'net_g_{saved}.pth')
    for key in ('params', 'params_ema'):
        assert all(torch.equal(loaded[key][k], stored[key][k]) for k in stored[key])
    assert not torch.equal(loaded['params']['conv_first_img.weight'], loaded['params_ema']['conv_first_img.weight'])

    # resume for real: the iteration counter continues where the state left it
    resume_and_check_continuation(tmp_path, 'tiny_resume', saved, 3)


@pytest.mark.slow
def test_basicsr_test_writes_metrics_and_images(tmp_path, crops):
    from aidn_plugin.archs.aidn_arch import AIDN
    net = AIDN(**{k: v for k, v in TINY_NET.items() if k != 'type'})
    torch.save({'params': net.state_dict()}, tmp_path / 'tiny.pth')
    opt = {
        'name': 'tiny_eval', 'model_type': 'AIDNModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {'test_1': {'name': 'crops', 'type': 'EdgePairedImageDataset', 'dataroot_gt': str(crops),
                                'io_backend': {'type': 'disk'}}},
        'network_g': dict(TINY_NET),
        'path': {'pretrain_network_g': 'tiny.pth', 'strict_load_g': True, 'param_key_g': 'params'},
        'val': {'save_img': True, 'suffix': None,
                'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': True},
                            'ssim': {'type': 'calculate_ssim', 'crop_border': 4, 'test_y_channel': True}}},
    }
    write_options(tmp_path, opt)
    result = run([script('basicsr'), 'test', '-opt', 'opt.yml'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    log = train_log(tmp_path, 'tiny_eval', kind='test')
    assert re.search(r'# psnr: [0-9.]+', log) and re.search(r'# ssim: 0\.[0-9]+', log)
    images = list((tmp_path / 'results' / 'tiny_eval' / 'visualization' / 'crops').glob('*.png'))
    assert len(images) == 6


# Bad input: each a one-line error, exit code 2, before any work starts (no experiments/ folder).

def _bad_run(tmp_path, capsys, mutate, args=(), env=None, monkeypatch=None):
    from aidn_plugin.cli.basicsr_cli import main
    opt = train_options('bad', write_photo_crops(tmp_path / 'gt', count=5, size=48), batch=4)
    mutate(opt)
    write_options(tmp_path, opt)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(['train', '-opt', 'opt.yml', *args])
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert '\n' not in err and 'Traceback' not in err
    assert not (tmp_path / 'experiments').exists()
    return err


def test_unknown_top_level_key_suggests_nearest(tmp_path, capsys):
    err = _bad_run(tmp_path, capsys, lambda opt: opt.update(trian=opt.pop('train')))
    assert "unknown top-level key 'trian'; did you mean 'train'?" in err


def test_missing_dataroot(tmp_path, capsys):
    err = _bad_run(tmp_path, capsys, lambda opt: opt['datasets']['train'].update(dataroot_gt='nowhere/HR'))
    assert 'datasets.train.dataroot_gt does not exist: nowhere/HR' in err


def test_scale_disagrees_with_network(tmp_path, capsys):
    err = _bad_run(tmp_path, capsys, lambda opt: opt['network_g'].update(upscale=2))
    assert 'scale is 4 but network_g.upscale is 2' in err


def test_more_gpus_than_present(tmp_path, capsys):
    wanted = torch.cuda.device_count() + 1
    err = _bad_run(tmp_path, capsys, lambda opt: opt.update(num_gpu=wanted))
    assert f'num_gpu is {wanted} but this machine has {torch.cuda.device_count()} CUDA GPU(s)' in err


def test_training_set_smaller_than_global_batch_distributed(tmp_path, capsys, monkeypatch):
    # 5 images, batch 4 per process, 2 processes: BasicSR would "train" zero iterations and report success.
    monkeypatch.setenv('WORLD_SIZE', '2')
    err = _bad_run(tmp_path, capsys, lambda opt: opt['datasets']['train'].update(dataset_enlarge_ratio=1),
                   args=('--launcher', 'pytorch'))
    assert 'the training set has 5 sample(s)' in err and '2 process(es), 3 per process' in err
    assert 'one batch of 4' in err


def test_training_set_smaller_than_batch_single_process(tmp_path, capsys):
    err = _bad_run(tmp_path, capsys, lambda opt: opt['datasets']['train'].update(dataset_enlarge_ratio=1,
                                                                                batch_size_per_gpu=8))
    assert 'fewer than one batch of 8' in err


def test_bad_input_through_the_real_script(tmp_path):
    opt = train_options('bad', tmp_path / 'missing')
    write_options(tmp_path, opt)
    result = run([script('basicsr'), 'train', '-opt', 'opt.yml'], cwd=tmp_path)
    assert result.returncode == 2
    missing = tmp_path / 'missing'  # the training and the validation set both point there: both are named
    assert result.stderr.strip() == (f'basicsr train: error: opt.yml: 2 paths do not exist: datasets.train.dataroot_gt '
                                     f'({missing}); datasets.val.dataroot_gt ({missing})')
    assert not (tmp_path / 'experiments').exists()


def test_basicsr_test_without_checkpoint(tmp_path, capsys):
    from aidn_plugin.cli.basicsr_cli import main
    opt = train_options('bad', write_photo_crops(tmp_path / 'gt', count=2, size=48))
    opt['path']['pretrain_network_g'] = 'missing.pth'
    write_options(tmp_path, opt)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(SystemExit):
            main(['test', '-opt', 'opt.yml'])
    finally:
        os.chdir(cwd)
    assert 'path.pretrain_network_g does not exist: missing.pth' in capsys.readouterr().err
    assert not (tmp_path / 'results').exists()



def _test_mode_model(net_opt):
    from basicsr.models import build_model
    return build_model({'model_type': 'AIDNModel', 'num_gpu': 0, 'is_train': False, 'dist': False,
                        'network_g': dict(net_opt), 'path': {}})


def test_model_feeds_the_dataset_edge_to_the_network():
    model = _test_mode_model(TINY_NET)
    lq = torch.rand(1, 3, 12, 12)
    given_edge = torch.rand(1, 1, 12, 12)
    model.feed_data({'lq': lq, 'edge': given_edge})
    model.test()
    with torch.no_grad():
        expected = model.net_g(lq.clone(), given_edge)
        own_edge = model.net_g(lq.clone())
    assert torch.equal(model.output, expected)
    assert not torch.allclose(model.output, own_edge)


def test_model_without_edge_lets_the_network_compute_it():
    model = _test_mode_model(TINY_NET)
    lq = torch.rand(1, 3, 12, 12)
    model.feed_data({'lq': lq})
    model.test()
    with torch.no_grad():
        assert torch.equal(model.output, model.net_g(lq.clone()))


def test_model_with_a_network_that_takes_no_edge():
    # AIDNModel also drives BasicSR's own networks, which take no edge argument
    model = _test_mode_model({'type': 'SRVGGNetCompact', 'num_feat': 8, 'num_conv': 2, 'upscale': 4})
    model.feed_data({'lq': torch.rand(1, 3, 8, 8), 'edge': torch.rand(1, 1, 8, 8)})
    model.test()
    assert model.output.shape == (1, 3, 32, 32)


def test_force_yml_overrides_are_checked_like_the_run_will_see_them(tmp_path, capsys):
    err = _bad_run(tmp_path, capsys, lambda opt: None, args=('--force_yml', 'network_g:upscale=3'))
    assert 'scale is 4 but network_g.upscale is 3' in err


def test_force_yml_unknown_section(tmp_path, capsys):
    err = _bad_run(tmp_path, capsys, lambda opt: None, args=('--force_yml', 'trian:total_iter=3'))
    assert "--force_yml 'trian:total_iter=3': 'trian' is not in the option file" in err


def test_force_yml_can_supply_the_test_checkpoint(tmp_path):
    import argparse

    from aidn_plugin.cli.option_checks import check_option_file
    opt = train_options('ok', write_photo_crops(tmp_path / 'gt', count=2, size=48))
    opt['path']['pretrain_network_g'] = 'missing.pth'
    write_options(tmp_path, opt)
    (tmp_path / 'real.pth').write_bytes(b'')
    args = argparse.Namespace(launcher='none', force_yml=[f'path:pretrain_network_g={tmp_path / "real.pth"}'])
    checked = check_option_file(str(tmp_path / 'opt.yml'), 'test', args)
    assert checked['path']['pretrain_network_g'] == str(tmp_path / 'real.pth')
