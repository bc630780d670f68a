"""EdgeAwareL1Loss: BasicSR builds it from an option dict, it reduces to L1 when its edge terms are off,
weighs edge pixels as documented, and trains a network through the real ``basicsr train``."""
import re

import pytest
import torch

from aidn_plugin.edges import edge_map
from helpers import run, script, write_photo_crops
from test_training import train_log, train_options, write_options


def _build(**options):
    import aidn_plugin  # noqa: F401  (registration)
    from basicsr.losses import build_loss
    return build_loss(dict(type='EdgeAwareL1Loss', **options))


def _pair(photo_rgb, size=32):
    target = torch.from_numpy(photo_rgb[:size, :size]).permute(2, 0, 1)[None].float() / 255
    pred = (target + 0.05 * torch.randn_like(target)).clamp(0, 1)
    return pred, target


def test_without_edge_terms_it_is_basicsr_l1(photo_rgb):
    from basicsr.losses.basic_loss import L1Loss
    pred, target = _pair(photo_rgb)
    loss = _build(edge_weight=0, loss_weight=0.5)
    assert torch.equal(loss(pred, target), L1Loss(loss_weight=0.5)(pred, target))


def test_edge_pixels_weigh_one_plus_edge_weight_times_the_edge(photo_rgb):
    pred, target = _pair(photo_rgb)
    edge = edge_map(target)
    assert edge.max() > 5 * edge.min()  # the crop has flatter and edgier pixels
    expected = ((pred - target).abs() * (1 + 2.0 * edge)).mean()
    assert torch.allclose(_build(edge_weight=2.0)(pred, target), expected, rtol=1e-6)
    # a given target edge (the dataset's gt_edge) is used as it is
    assert torch.allclose(_build(edge_weight=2.0)(pred, target, target_edge=edge), expected, rtol=1e-6)
    total = _build(edge_weight=2.0, reduction='sum')(pred, target)
    assert torch.allclose(total, expected * pred.numel(), rtol=1e-5)


def test_edge_map_term_pulls_the_output_edges_towards_the_targets(photo_rgb):
    pred, target = _pair(photo_rgb)
    loss = _build(edge_weight=0, edge_loss_weight=1.0, edge_operator='scharr')
    expected = (pred - target).abs().mean() + (edge_map(pred, 'scharr') - edge_map(target, 'scharr')).abs().mean()
    pred.requires_grad_(True)
    value = loss(pred, target)
    assert torch.allclose(value, expected, rtol=1e-6)
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert _build(edge_loss_weight=1.0)(target, target) == 0


@pytest.mark.parametrize('options, message', [
    ({'edge_weight': -1}, 'edge_weight must be a number >= 0'),
    ({'edge_operator': 'canny'}, "edge_operator must be one of"),
    ({'reduction': 'none'}, "reduction must be one of"),
])
def test_bad_options_name_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        _build(**options)


@pytest.mark.slow
def test_basicsr_train_with_the_edge_aware_loss(tmp_path):
    crops = write_photo_crops(tmp_path / 'gt', count=6, size=48)
    opt = train_options('edge_loss', crops, total_iter=6, save_freq=6)
    opt['train']['pixel_opt'] = {'type': 'EdgeAwareL1Loss', 'loss_weight': 1.0, 'edge_weight': 2.0,
                                 'edge_loss_weight': 0.5}
    write_options(tmp_path, opt)
    result = run([script('basicsr'), 'train', '-opt', 'opt.yml'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    losses = [float(v) for v in re.findall(r'l_pix: ([0-9.e+-]+)', train_log(tmp_path, 'edge_loss'))]
    assert len(losses) == 6 and all(v > 0 for v in losses)
    assert (tmp_path / 'experiments' / 'edge_loss' / 'models' / 'net_g_latest.pth').exists()
