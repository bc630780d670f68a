"""Mixed precision: bf16 training through the real ``basicsr train`` on the CPU (loss falls, fp32-loadable
checkpoint, SIGKILL + --auto_resume), the gradient scaler's state in the training state, one-line errors
for fp16 on a CPU and bad values, and bf16 inference against fp32 within a stated Y-PSNR tolerance."""
import os
import re

import cv2
import numpy as np
import pytest
import torch

from helpers import run, script, write_photo_crops
from test_training import (TINY_NET, _bad_run, _state_iters, load_checkpoint, resume_and_check_continuation,
                           train_log, train_options, train_then_kill, write_options)

# bf16 (8-bit mantissa) under autocast against fp32, the shipped aidn_x4 on the demo validation images:
# measured 65.39 to 68.35 dB (benchmarks/amp_demo.json); the test allows 55 dB, far above what any visible
# difference needs (an output differing by one 8-bit level everywhere scores 48 dB).
BF16_MIN_PSNR_Y = 55.0
DEMO_VAL_LR = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'datasets', 'demo', 'val', 'LR_bicubic', 'X4')


def _losses(log):
    return [float(v) for v in re.findall(r'l_pix: ([0-9.e+-]+)', log)]


@pytest.mark.slow
def test_bf16_training_loss_falls_loads_in_fp32_and_resumes_after_kill(tmp_path):
    crops = write_photo_crops(tmp_path / 'gt', count=6, size=48)
    opt = train_options('amp_bf16', crops, total_iter=100000, save_freq=10)
    opt['train'].update(amp='bf16', grad_clip=1.0)
    write_options(tmp_path, opt)
    root = tmp_path / 'experiments' / 'amp_bf16'
    states, models = train_then_kill(tmp_path, 'amp_bf16', states_wanted=3, timeout=180), root / 'models'
    saved = _state_iters(states)[-1]
    first_log = train_log(tmp_path, 'amp_bf16')
    losses = _losses(first_log)
    assert len(losses) >= 30
    # the loss falls: the mean of the last ten logged iterations well below the first ten
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10]), losses
    assert 'amp_scale' not in first_log  # bf16 needs no loss scaling

    # the checkpoint is float32 and loads strictly into the plain fp32 network, which runs it
    from aidn_plugin.archs.aidn_arch import AIDN
    checkpoint = load_checkpoint(models / f'net_g_{saved}.pth')
    assert all(v.dtype == torch.float32 for key in ('params', 'params_ema') for v in checkpoint[key].values())
    net = AIDN(**{k: v for k, v in TINY_NET.items() if k != 'type'})
    net.load_state_dict(checkpoint['params_ema'], strict=True)
    with torch.no_grad():
        assert torch.isfinite(net(torch.rand(1, 3, 12, 12))).all()
    assert 'grad_scaler' not in load_checkpoint(states / f'{saved}.state')

    # resumed after the kill: the counter continues, still in bf16
    resume_and_check_continuation(tmp_path, 'amp_bf16', saved, 10)
    load_checkpoint(models / 'net_g_latest.pth')


def _train_model(tmp_path, **train):
    """An AIDNModel in training mode, built from options as BasicSR builds it."""
    from basicsr.models import build_model
    opt = train_options('unit', tmp_path)
    opt['train'].update(train)
    for key in ('models', 'training_states'):
        (tmp_path / key).mkdir(exist_ok=True)
    folders = {key: str(tmp_path / key) for key in ('models', 'training_states')}
    opt.update(is_train=True, dist=False, rank=0, world_size=1, path=dict(opt['path'], **folders))
    return build_model(opt)


def _batch(seed):
    generator = torch.Generator().manual_seed(seed)
    return {'lq': torch.rand(2, 3, 8, 8, generator=generator), 'gt': torch.rand(2, 3, 32, 32, generator=generator)}


def test_gradient_scaler_state_is_saved_and_restored(tmp_path):
    # The fp16 path (scale, unscale before clipping, step, update, state) on the CPU: a real GradScaler for
    # the CPU device driving a bf16 autocast step, since fp16 training itself needs CUDA.
    model = _train_model(tmp_path, amp='bf16', grad_clip=0.5)
    model.grad_scaler = torch.amp.GradScaler('cpu', init_scale=2.0 ** 10, growth_interval=2)
    before = {k: v.clone() for k, v in model.net_g.state_dict().items()}
    for step in range(5):
        model.feed_data(_batch(step))
        model.optimize_parameters(step + 1)
    assert model.log_dict['amp_scale'] == model.grad_scaler.get_scale() > 2.0 ** 10  # it grew: no overflow
    assert any(not torch.equal(before[k], v) for k, v in model.net_g.state_dict().items())
    model.save_training_state(epoch=0, current_iter=5)
    state = torch.load(tmp_path / 'training_states' / '5.state', map_location='cpu', weights_only=True)
    assert state['grad_scaler']['scale'] == model.grad_scaler.get_scale()

    resumed = _train_model(tmp_path, amp='bf16')
    resumed.grad_scaler = torch.amp.GradScaler('cpu')
    resumed.resume_training(state)
    assert resumed.grad_scaler.get_scale() == model.grad_scaler.get_scale()
    assert resumed.grad_scaler.state_dict()['_growth_tracker'] == model.grad_scaler.state_dict()['_growth_tracker']


def _grad_norm(model):
    return torch.cat([p.grad.flatten() for p in model.net_g.parameters() if p.grad is not None]).norm()


def test_gradient_clipping_bounds_the_gradient_norm(tmp_path):
    # the gradients the optimizer stepped with are still on the parameters after the step
    free = _train_model(tmp_path)
    free.feed_data(_batch(0))
    free.optimize_parameters(1)
    assert _grad_norm(free) > 1e-2
    clipped = _train_model(tmp_path, grad_clip=1e-3)
    clipped.feed_data(_batch(0))
    clipped.optimize_parameters(1)
    assert 0 < _grad_norm(clipped) <= 1e-3 * (1 + 1e-4)


def test_validation_runs_in_fp32_unless_asked(tmp_path):
    model = _train_model(tmp_path, amp='bf16')
    assert model.amp == 'bf16' and model.val_amp == 'none'
    model.feed_data(_batch(0))
    model.test()
    with torch.no_grad():
        expected = model.net_g_ema(model.lq)
    # fp32 to the rounding of the kernel choice (bf16 would differ by ~1e-2)
    assert model.output.dtype == torch.float32 and torch.allclose(model.output, expected, atol=1e-6)


def test_fp16_on_the_cpu_is_refused_before_any_work(tmp_path, capsys):
    err = _bad_run(tmp_path, capsys, lambda opt: opt['train'].update(amp='fp16'))
    assert "train.amp is 'fp16', which needs a CUDA device, but this run is on the cpu" in err


def test_fp16_on_the_cpu_is_refused_by_the_model_too(tmp_path):
    # users with their own entry scripts skip the option checks: the model refuses with the same line
    with pytest.raises(ValueError, match=r"train\.amp is 'fp16', which needs a CUDA device"):
        _train_model(tmp_path, amp='fp16')


def test_bad_amp_and_grad_clip_values(tmp_path, capsys):
    err = _bad_run(tmp_path, capsys, lambda opt: opt['train'].update(amp='fp8'))
    assert "train.amp is 'fp8'; expected one of none, fp16, bf16" in err
    err = _bad_run(tmp_path, capsys, lambda opt: opt['val'].update(amp='half'))
    assert "val.amp is 'half'; expected one of none, fp16, bf16" in err
    err = _bad_run(tmp_path, capsys, lambda opt: opt['train'].update(grad_clip=-1))
    assert 'train.grad_clip is -1; expected a number > 0' in err


def test_fp16_refusal_through_the_real_script(tmp_path):
    opt = train_options('bad', write_photo_crops(tmp_path / 'gt', count=4, size=48))
    write_options(tmp_path, opt)
    result = run([script('basicsr'), 'train', '-opt', 'opt.yml', '--force_yml', 'train:amp=fp16'], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count('\n') == 0 and "train.amp is 'fp16'" in result.stderr
    assert not (tmp_path / 'experiments').exists()


# ------------------------------------------------------------------------------------------------ inference
def _y_psnr(a, b):
    from basicsr.metrics import calculate_psnr
    return calculate_psnr(a, b, crop_border=4, test_y_channel=True)


def test_bf16_inference_matches_fp32_within_tolerance():
    from aidn_plugin import zoo
    from aidn_plugin.inference.tiling import upscale_image
    from aidn_plugin.utils import amp
    model = zoo.load_model('aidn_x4', fuse=True, device='cpu')
    image = cv2.imread(os.path.join(DEMO_VAL_LR, 'coffee.png'))
    reference = upscale_image(model, image, tile=0)
    with amp.autocast('bf16', 'cpu'):
        candidate = upscale_image(model, image, tile=0)
    assert not np.array_equal(candidate, reference)  # bf16 really ran
    assert _y_psnr(candidate, reference) >= BF16_MIN_PSNR_Y


def test_reduced_precision_network_keeps_statistics_in_fp32():
    # the whole network cast to bf16 (not autocast): the edge map, the attention statistics and the softmax
    # still run in fp32 inside, so the output stays close to fp32's and finite
    from aidn_plugin import edges
    from aidn_plugin.archs.aidn_arch import AIDN
    torch.manual_seed(0)
    net = AIDN(num_feat=8, num_block=2, num_out=2).eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        reference = net(x)
        low = net.to(torch.bfloat16)(x.bfloat16())
    assert low.dtype == torch.bfloat16 and torch.isfinite(low).all()
    assert (low.float() - reference).abs().max() < 0.05
    edge = edges.edge_map(x.half())
    assert edge.dtype == torch.float16
    assert torch.allclose(edge.float(), edges.edge_map(x), atol=1e-3)


def test_upscale_precision_flags(tmp_path):
    source = tmp_path / 'in.png'
    cv2.imwrite(str(source), (np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8))
    result = run([script('aidn'), 'upscale', str(source), '-o', str(tmp_path / 'bf16.png'), '-m', 'aidn_x4',
                  '--device', 'cpu', '--precision', 'bf16', '-q'])
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(tmp_path / 'bf16.png')).shape == (80, 96, 3)
    result = run([script('aidn'), 'upscale', str(source), '-o', str(tmp_path / 'fp16.png'), '-m', 'aidn_x4',
                  '--device', 'cpu', '--precision', 'fp16'])
    assert result.returncode == 2
    assert result.stderr.strip() == ('aidn upscale: error: --precision fp16 needs a CUDA device, but the device is '
                                     'cpu; use bf16 or fp32 there')
    assert not (tmp_path / 'fp16.png').exists()
