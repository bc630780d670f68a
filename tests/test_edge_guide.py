"""AIDN's edge-guided variant (``edge_guide='gate'``): an edge gate in every block. It starts as the plain
network, learns, runs the same through the CPU inference pass, is recognised from its tensors, costs well
under 10% more MACs, and the equal-budget campaign can train it (and the edge-aware loss)."""
import pytest
import torch

from aidn_plugin.archs import aidn_deploy
from aidn_plugin.archs.aidn_arch import AIDN
from aidn_plugin.archs.aidn_spec import infer_arch, model_from_state_dict

SMALL = dict(num_feat=8, num_block=3, num_out=2)


def _randomise_gates(model, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.body:
            block.edge_gate.weight.copy_(torch.randn(block.edge_gate.weight.shape, generator=generator) * 0.5)
            block.edge_gate.bias.copy_(torch.randn(block.edge_gate.bias.shape, generator=generator) * 0.5)
    return model


def test_a_new_gate_computes_what_the_plain_network_does():
    torch.manual_seed(0)
    plain = AIDN(**SMALL).eval()
    gated = AIDN(edge_guide='gate', **SMALL).eval()
    result = gated.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(result.missing_keys) == sorted(f'body.{i}.edge_gate.{p}' for i in range(3) for p in ('weight', 'bias'))
    x = torch.rand(2, 3, 12, 10)
    with torch.no_grad():
        assert torch.equal(gated(x), plain(x))
        assert not torch.allclose(_randomise_gates(gated)(x), plain(x), atol=1e-4)


def test_gates_learn_from_the_edge_map():
    model = AIDN(edge_guide='gate', **SMALL).train()
    x, target = torch.rand(2, 3, 12, 10), torch.rand(2, 3, 48, 40)
    torch.nn.functional.l1_loss(model(x), target).backward()
    assert all(block.edge_gate.weight.grad.abs().sum() > 0 for block in model.body)


@pytest.mark.parametrize('scale', [2, 3, 4])
@pytest.mark.parametrize('fused', [False, True])
def test_cpu_inference_pass_matches_the_training_form(scale, fused):
    model = _randomise_gates(AIDN(edge_guide='gate', upscale=scale, **SMALL)).eval()
    if fused:
        model.fuse()
    x = torch.rand(1, 3, 14, 11)
    with torch.no_grad():
        assert aidn_deploy.applies(model, x)
        fast = model(x)
        with aidn_deploy.disabled():
            reference = model(x)
    torch.testing.assert_close(fast, reference, rtol=0, atol=2e-5)


def test_recognised_from_its_tensors_and_rebuilt():
    model = _randomise_gates(AIDN(edge_guide='gate', **SMALL)).fuse().eval()
    assert infer_arch(model.state_dict())['edge_guide'] == 'gate'
    assert infer_arch(AIDN(**SMALL).state_dict())['edge_guide'] == 'input'
    rebuilt = model_from_state_dict(model.state_dict())
    x = torch.rand(1, 3, 9, 9)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_costs_under_ten_percent_more_macs():
    from aidn_plugin.archs.complexity import count_complexity
    plain = count_complexity(AIDN().fuse(), (1280, 720), 4)['macs']
    gated = count_complexity(AIDN(edge_guide='gate').fuse(), (1280, 720), 4)['macs']
    assert plain < gated < 1.01 * plain


@pytest.mark.parametrize('kwargs, message', [
    ({'edge_guide': 'blocks'}, "edge_guide must be one of"),
    ({'edge_guide': 'gate', 'edge_input': False}, "edge_guide='gate' needs the edge input"),
])
def test_bad_options_are_clear(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AIDN(**kwargs)


def test_the_campaign_trains_both_edge_variants_with_the_same_recipe(tmp_path):
    from scripts.bench import quality
    args = quality.with_seed(quality.parse_args(['--work-dir', str(tmp_path), '--out-dir', str(tmp_path)]), 0)
    aidn = quality.train_options('aidn', args, '/data', '/data/meta.txt')
    gate = quality.train_options('aidn_edgegate', args, '/data', '/data/meta.txt')
    loss = quality.train_options('aidn_edgeloss', args, '/data', '/data/meta.txt')
    assert gate['network_g'] == dict(aidn['network_g'], edge_guide='gate')
    assert gate['train'] == aidn['train']
    assert loss['network_g'] == aidn['network_g']
    assert loss['train']['pixel_opt']['type'] == 'EdgeAwareL1Loss' and aidn['train']['pixel_opt']['type'] == 'L1Loss'
    assert len({aidn['name'], gate['name'], loss['name']}) == 3


def test_exports_to_onnx_and_matches_onnxruntime(tmp_path):
    from aidn_plugin.inference.onnx_export import export_onnx
    model = _randomise_gates(AIDN(edge_guide='gate', **SMALL)).fuse().eval()
    report = export_onnx(model, str(tmp_path / 'gated.onnx'))
    assert max(report['max_abs_error'].values()) < 1e-4
