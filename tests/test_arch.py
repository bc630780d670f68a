"""The AIDN architecture: shapes, gradients, BasicSR registry, fusion, checkpoints, bad input."""
import pytest
import torch
import torch.nn.functional as F

from aidn_plugin.archs.aidn_arch import AIDN
from aidn_plugin.edges import edge_map


@pytest.mark.parametrize('scale', [2, 3, 4])
@pytest.mark.parametrize('size', [(17, 23), (1, 1), (8, 8)])
def test_output_shape(scale, size, tiny_aidn_kwargs):
    net = AIDN(upscale=scale, **tiny_aidn_kwargs)
    out = net(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, size[0] * scale, size[1] * scale)


def test_default_network_shape_and_grey_variant():
    assert AIDN()(torch.rand(1, 3, 12, 10)).shape == (1, 3, 48, 40)
    grey = AIDN(num_in_ch=1, num_out_ch=1, upscale=2, num_feat=8, num_block=2, num_out=1)
    assert grey(torch.rand(1, 1, 5, 6)).shape == (1, 1, 10, 12)


def test_every_parameter_gets_a_gradient():
    net = AIDN(num_feat=16, num_block=3, upscale=3)
    lr, hr = torch.rand(2, 3, 12, 12), torch.rand(2, 3, 36, 36)
    F.l1_loss(net(lr), hr).backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_builds_through_basicsr_registry(tiny_aidn_kwargs):
    from basicsr.archs import build_network
    from basicsr.utils.registry import ARCH_REGISTRY
    assert ARCH_REGISTRY.get('AIDN') is AIDN
    net = build_network({'type': 'AIDN', 'upscale': 2, **tiny_aidn_kwargs})
    assert isinstance(net, AIDN) and net.upscale == 2


@pytest.mark.parametrize('operator', ['sobel', 'scharr', 'laplacian'])
def test_given_edge_equals_internal_edge(operator, tiny_aidn_kwargs):
    net = AIDN(edge_operator=operator, **tiny_aidn_kwargs).eval()
    x = torch.rand(2, 3, 15, 13)
    with torch.no_grad():
        assert torch.equal(net(x), net(x, edge_map(x, operator)))
        # and the edge matters: a different edge changes the output
        assert not torch.allclose(net(x), net(x, torch.zeros(2, 1, 15, 13)))


@pytest.mark.parametrize('scale', [2, 3, 4])
def test_fuse_matches_unfused_and_shrinks(scale):
    net = AIDN(upscale=scale, num_feat=16, num_block=3).eval()
    # train a little so the 1x3/3x1 branches are not at their init values
    for p in net.parameters():
        p.data.add_(0.01 * torch.randn_like(p))
    x = torch.rand(1, 3, 20, 17)
    with torch.no_grad():
        before = net(x)
        params_before = sum(p.numel() for p in net.parameters())
        assert net.fuse() is net and net.fused
        after = net(x)
    assert sum(p.numel() for p in net.parameters()) < params_before
    rel = (after - before).abs().max() / before.abs().max()
    assert rel < 1e-5
    # a fused checkpoint loads into a model built with deploy=True
    deployed = AIDN(upscale=scale, num_feat=16, num_block=3, deploy=True).eval()
    deployed.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert torch.equal(deployed(x), after)
    net.fuse()  # idempotent
    assert net.fused


def test_basicsr_style_checkpoint_round_trip(tmp_path, tiny_aidn_kwargs):
    net = AIDN(**tiny_aidn_kwargs).eval()
    path = tmp_path / 'net_g_10.pth'
    torch.save({'params': net.state_dict()}, path)
    fresh = AIDN(**tiny_aidn_kwargs).eval()
    fresh.load_state_dict(torch.load(path, weights_only=True)['params'])
    x = torch.rand(1, 3, 9, 9)
    with torch.no_grad():
        assert torch.equal(fresh(x), net(x))


def test_taps_are_evenly_spaced_and_end_with_last_block():
    assert AIDN(num_block=6, num_out=3).taps == [1, 3, 5]
    assert AIDN(num_block=8, num_out=3).taps[-1] == 7
    assert AIDN(num_block=4, num_out=1).taps == [3]


@pytest.mark.parametrize('x, match', [
    (torch.rand(3, 8, 8), 'x must be a 4-D tensor'),
    (torch.rand(1, 3, 1, 8, 8), 'x must be a 4-D tensor'),
    (torch.rand(1, 4, 8, 8), 'x must have 3 channels'),
])
def test_bad_input_tensor(x, match, tiny_aidn_kwargs):
    with pytest.raises(ValueError, match=match):
        AIDN(**tiny_aidn_kwargs)(x)


def test_bad_edge_shape(tiny_aidn_kwargs):
    with pytest.raises(ValueError, match=r'edge must have shape \(1, 1, 8, 8\)'):
        AIDN(**tiny_aidn_kwargs)(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize('kwargs, match', [
    ({'upscale': 8}, 'upscale must be one of'),
    ({'upscale': 1}, 'upscale must be one of'),
    ({'num_in_ch': 4, 'num_out_ch': 4}, 'num_in_ch'),
    ({'num_out_ch': 1}, 'num_out_ch'),
    ({'num_feat': 7}, 'num_feat'),
    ({'num_block': 2, 'num_out': 3}, 'num_out'),
    ({'attention': 'esa'}, 'attention'),
    ({'edge_operator': 'canny'}, 'edge_operator'),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AIDN(**kwargs)
