"""spandrel: after ``import aidn_plugin.integrations.spandrel``, ModelLoader recognises AIDN checkpoints of several
configurations, scales and file layouts, infers their hyper-parameters and rebuilds them exactly."""
import pytest
import spandrel
import torch

import aidn_plugin.integrations.spandrel as aidn_spandrel
from aidn_plugin.zoo.checkpoints import save_checkpoint
from zoo_helpers import tiny_model
from zoo_helpers import single_thread  # noqa: F401  (autouse fixture: one torch thread)


def _save(model, path, layout):
    state = model.state_dict()
    if layout == 'basicsr':
        torch.save({'params': state, 'params_ema': {f'module.{k}': v for k, v in state.items()}}, path)
    elif layout == 'bare':
        torch.save(state, path)
    elif layout == 'published':  # what scripts/publish_weights.py writes: {'params', 'arch'}
        save_checkpoint(path, state, {'act_type': 'lrelu', 'rgb_mean': (0.4488, 0.4371, 0.4040)})
    else:
        from safetensors.torch import save_file
        save_file(state, str(path))


@pytest.mark.parametrize('overrides, fused, layout', [
    (dict(upscale=2), False, 'basicsr'),
    (dict(upscale=3, num_in_ch=1, num_out_ch=1), False, 'bare'),
    (dict(upscale=4, num_out=1, attention='none'), False, 'safetensors'),
    (dict(upscale=4), True, 'published'),
    (dict(upscale=2, num_feat=12, num_block=3, num_out=3), True, 'safetensors'),
])
def test_loader_recognises_and_rebuilds(tmp_path, overrides, fused, layout):
    model = tiny_model(seed=51, **overrides)
    if fused:
        model.fuse()
    path = tmp_path / ('model.safetensors' if layout == 'safetensors' else 'model.pth')
    _save(model, path, layout)

    descriptor = spandrel.ModelLoader().load_from_file(str(path))
    assert descriptor.architecture.id == 'AIDN'
    channels = overrides.get('num_in_ch', 3)
    assert (descriptor.scale, descriptor.input_channels, descriptor.output_channels) == \
        (overrides['upscale'], channels, channels)
    assert descriptor.purpose == 'SR'
    assert f'{overrides.get("num_feat", 8)}nf' in descriptor.tags and ('fused' in descriptor.tags) == fused
    rebuilt = descriptor.model
    assert rebuilt.fused == fused
    x = torch.rand(1, channels, 13, 9)
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), model(x))
        assert torch.equal(descriptor(x), model(x).clamp(0, 1))


def test_other_architectures_are_not_taken_for_aidn(tmp_path):
    from basicsr.archs.srvgg_arch import SRVGGNetCompact
    path = tmp_path / 'compact.pth'
    torch.save({'params': SRVGGNetCompact(num_feat=8, num_conv=2, upscale=2).state_dict()}, path)
    assert spandrel.ModelLoader().load_from_file(str(path)).architecture.id != 'AIDN'


def test_registration_is_idempotent():
    assert 'AIDN' in spandrel.MAIN_REGISTRY
    size = len(spandrel.MAIN_REGISTRY)
    assert aidn_spandrel.register() == []
    assert len(spandrel.MAIN_REGISTRY) == size
