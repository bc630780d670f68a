"""The CPU inference pass (aidn_plugin/archs/aidn_deploy.py) computes what the training form computes.

Every variant of the architecture is run twice on the same input: with gradients on (the training form,
``AIDN._tap_outputs`` and ``F.interpolate``) and under ``torch.no_grad`` (the inference pass); the outputs
must agree to float rounding. Weights are perturbed away from the initialisation so that every branch
(1x3/3x1, attention, fusion) carries signal.
"""
import glob
import os

import pytest
import torch
import torch.nn.functional as F

from aidn_plugin import edges
from aidn_plugin.archs import aidn_deploy
from aidn_plugin.archs.aidn_arch import AIDN
from aidn_plugin.zoo.checkpoints import load_model

pytestmark = pytest.mark.skipif(aidn_deploy._OPS is None, reason='torch built without oneDNN fused operators')

WEIGHTS = os.path.join(os.path.dirname(__file__), '..', 'aidn_plugin', 'zoo', 'weights')
# float32 rounding of ~40 convolutions in a different order; values are O(1)
TOLERANCE = dict(atol=2e-5, rtol=1e-5)


def _perturbed(seed=0, **options):
    torch.manual_seed(seed)
    model = AIDN(num_feat=8, num_block=2, num_out=min(2, options.pop('num_out', 2)), **options).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    return model


def _both_forms(model, x):
    training = model(x).detach()  # gradients on: the training form
    with torch.no_grad():
        assert aidn_deploy.applies(model, x)
        deploy = model(x)
    return training, deploy


VARIANTS = [
    {},
    {'attention': 'ca'},
    {'attention': 'none'},
    {'act_type': 'relu'},
    {'act_type': 'gelu'},
    {'act_type': 'silu'},
    {'edge_input': False},
    {'num_out': 1},
    {'num_in_ch': 1, 'num_out_ch': 1},
    {'upscale': 2},
    {'upscale': 3},
    {'asymmetric': False},
]


@pytest.mark.parametrize('options', VARIANTS, ids=lambda o: ','.join(f'{k}={v}' for k, v in o.items()) or 'default')
def test_inference_pass_equals_training_form(options):
    model = _perturbed(**dict(options))
    x = torch.rand(1, model.num_in_ch, 13, 17)
    training, deploy = _both_forms(model, x)
    torch.testing.assert_close(deploy, training, **TOLERANCE)


def test_fused_and_channels_last_inputs():
    model = _perturbed()
    x = torch.rand(2, 3, 16, 12)
    training = model(x).detach()
    model.fuse()
    with torch.no_grad():
        torch.testing.assert_close(model(x), training, **TOLERANCE)
        torch.testing.assert_close(model(x.contiguous(memory_format=torch.channels_last)), training, **TOLERANCE)
        edge_given = model(x, edges.edge_map(x, model.edge_operator))
    torch.testing.assert_close(edge_given, training, **TOLERANCE)


def test_kernels_follow_the_weights():
    """Loading other weights (load_state_dict, an in-place update) changes the next call's output."""
    model = _perturbed(seed=0)
    other = _perturbed(seed=1)
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        model(x)  # a first call with the seed-0 weights
        model.load_state_dict(other.state_dict())
        torch.testing.assert_close(model(x), other(x), **TOLERANCE)
        model.body[0].refine[0].conv3x3.weight.mul_(0.5)
        got = model(x)
    torch.testing.assert_close(got, model(x).detach(), **TOLERANCE)


def test_kernels_follow_writes_through_data_like_basicsrs_ema():
    """BasicSR's EMA (``model_ema``) writes ``p.data.mul_(d).add_(q.data, ...)``, which bumps no version
    counter; validation right after must still see the new weights, not kernels of the old ones."""
    ema, net = _perturbed(seed=0), _perturbed(seed=1)
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        ema(x)  # a call with the old EMA weights
        for p_ema, p in zip(ema.parameters(), net.parameters()):
            p_ema.data.mul_(0.5).add_(p.data, alpha=0.5)
        got = ema(x)
        with aidn_deploy.disabled():
            expected = ema(x)
    torch.testing.assert_close(got, expected, **TOLERANCE)


@pytest.mark.parametrize('fused', [False, True])
def test_a_write_that_keeps_every_norm_is_served(fused):
    """Issue 31: ``weight.data.neg_()`` on one convolution keeps every parameter's norm, storage and version
    counter; the next inference call must still compute with the negated weight (the kernels of the
    previous call were once reused here, 0.02 away from the training form)."""
    model = _perturbed(seed=2)
    if fused:
        model.fuse()
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        before = model(x)
        model.body[0].refine[1].conv3x3.weight.data.neg_()
        model.conv_first_img.weight.data.neg_()
        got = model(x)
        with aidn_deploy.disabled():
            expected = model(x)
    assert (before - expected).abs().max() > 1e-3  # the write matters
    torch.testing.assert_close(got, expected, **TOLERANCE)


def test_shipped_weights_keep_their_keys_through_inference():
    """The shipped x4 weights, loaded and fused by the package, run the inference pass like the training
    form, and their state dict still has exactly a fused checkpoint's keys (a fused checkpoint saved from
    it loads back strictly into ``deploy=True``)."""
    path = sorted(glob.glob(os.path.join(WEIGHTS, 'aidn_x4-*.pth')))[0]
    model = load_model(path, fuse=True)
    x = torch.rand(1, 3, 10, 14)
    training = model(x).detach()
    with torch.no_grad():
        deploy = model(x)
    torch.testing.assert_close(deploy, training, **TOLERANCE)
    keys = list(model.state_dict())
    assert keys == list(AIDN(deploy=True).state_dict())
    assert 'body.0.refine.0.conv3x3.weight' in keys and not any('conv1x3' in key for key in keys)
    AIDN(deploy=True).load_state_dict(model.state_dict(), strict=True)


def test_training_autocast_and_tracing_take_the_training_form():
    model = _perturbed()
    x = torch.rand(1, 3, 8, 8)
    assert not aidn_deploy.applies(model, x)  # gradients on
    with torch.no_grad():
        assert not aidn_deploy.applies(model, x.double())
        with aidn_deploy.disabled():
            assert not aidn_deploy.applies(model, x)
        assert aidn_deploy.applies(model, x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert not aidn_deploy.applies(model, x)
        traced = torch.jit.trace(model, (x, ), check_trace=False)
    graph = str(traced.graph)
    assert 'mkldnn' not in graph and 'aten::_convolution' in graph


@pytest.mark.parametrize('scale', aidn_deploy.BICUBIC_SCALES)
@pytest.mark.parametrize('size', [(1, 1), (2, 5), (19, 8)])
def test_bicubic_convolution_equals_interpolate(scale, size):
    for channels in (1, 3):
        x = torch.rand(2, channels, *size)
        expected = F.interpolate(x, scale_factor=scale, mode='bicubic', align_corners=False)
        got = aidn_deploy.bicubic(x, scale)
        assert got.is_contiguous()
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)


def test_export_form_only_inside_the_exporter():
    """Traced inside export_form the graph has the ONNX Runtime spelling (no bicubic upsample, no softmax,
    no spatial mean), with the same output; other tracing keeps the training form's operators."""
    model = _perturbed()
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        plain = torch.jit.trace(model, (x, ), check_trace=False)
        with aidn_deploy.export_form():
            spelled = torch.jit.trace(model, (x, ), check_trace=False)
        assert not aidn_deploy.exporting()
        torch.testing.assert_close(spelled(x), plain(x), **TOLERANCE)
    plain_graph, spelled_graph = str(plain.inlined_graph), str(spelled.inlined_graph)
    for op in ('aten::upsample_bicubic2d', 'aten::softmax', 'aten::mean'):
        assert op in plain_graph and op not in spelled_graph, op
    assert 'aten::adaptive_avg_pool2d' in spelled_graph and 'aten::pixel_shuffle' in spelled_graph
