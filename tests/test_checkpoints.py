"""Checkpoint loading: BasicSR layouts, safetensors, safety (weights_only), architecture inference and
every bad checkpoint a user can hand us."""
import json
import os

import pytest
import torch

from aidn_plugin.archs.aidn_arch import AIDN
from aidn_plugin.archs.aidn_spec import infer_arch, resolve_arch
from aidn_plugin.zoo.checkpoints import CheckpointError, load_model, read_checkpoint, save_checkpoint
from zoo_helpers import TINY, tiny_model
from zoo_helpers import single_thread  # noqa: F401  (autouse fixture: one torch thread)


def _same_output(a, b, size=(1, 3, 20, 17), atol=0.0):
    x = torch.rand(*size)
    with torch.no_grad():
        ya, yb = a(x), b(x)
    assert ya.shape == yb.shape
    assert torch.allclose(ya, yb, atol=atol, rtol=0), (ya - yb).abs().max()


def test_params_ema_preferred_over_params_and_module_prefix_stripped(tmp_path):
    plain, ema = tiny_model(seed=1), tiny_model(seed=2)
    path = tmp_path / 'net_g_1000.pth'
    torch.save({'params': {f'module.{k}': v for k, v in plain.state_dict().items()},
                'params_ema': {f'module.{k}': v for k, v in ema.state_dict().items()}}, path)
    _same_output(load_model(path, fuse=False), ema)


def test_params_then_bare_state_dict(tmp_path):
    model = tiny_model(seed=3)
    torch.save({'params': model.state_dict()}, tmp_path / 'params.pth')
    torch.save(model.state_dict(), tmp_path / 'bare.pth')
    _same_output(load_model(tmp_path / 'params.pth', fuse=False), model)
    _same_output(load_model(tmp_path / 'bare.pth', fuse=False), model)


def test_fused_load_matches_unfused_and_fused_checkpoint_builds_deploy_form(tmp_path):
    model = tiny_model(seed=4)
    unfused_path = tmp_path / 'unfused.pth'
    torch.save({'params': model.state_dict()}, unfused_path)
    fused = load_model(unfused_path)  # fused by default
    assert fused.fused
    _same_output(fused, model, atol=1e-5)

    fused_path = tmp_path / 'fused.pth'
    torch.save({'params': fused.state_dict()}, fused_path)
    assert not any('conv1x3' in k for k in torch.load(fused_path, weights_only=True)['params'])
    again = load_model(fused_path, fuse=False)
    assert again.fused and infer_arch(again.state_dict())['deploy']
    _same_output(again, fused)


@pytest.mark.parametrize('overrides', [
    dict(upscale=2),
    dict(upscale=3, num_in_ch=1, num_out_ch=1),
    dict(upscale=4, num_out=1, attention='none'),
    dict(upscale=2, num_feat=12, num_block=3, num_out=3),
])
def test_architecture_inferred_from_tensors(tmp_path, overrides):
    model = tiny_model(seed=5, **overrides)
    path = tmp_path / 'bare.pth'
    torch.save(model.state_dict(), path)
    args = resolve_arch(*read_checkpoint(path))
    expected = {**TINY, **overrides}
    for key, value in expected.items():
        assert args[key] == value, key
    loaded = load_model(path, fuse=False)
    channels = expected.get('num_in_ch', 3)
    _same_output(loaded, model, size=(1, channels, 9, 13))


def test_stored_arch_carries_what_tensors_cannot_show(tmp_path):
    model = tiny_model(seed=6, act_type='gelu', edge_operator='scharr', attention='ca')
    path = tmp_path / 'published.pth'
    save_checkpoint(path, model.state_dict(), dict(act_type='gelu', edge_operator='scharr', attention='ca'))
    loaded = load_model(path, fuse=False)
    assert loaded.edge_operator == 'scharr'
    _same_output(loaded, model)
    # Without the stored arch the defaults (lrelu, sobel, cca) give another network: the record matters.
    bare = tmp_path / 'bare.pth'
    torch.save(model.state_dict(), bare)
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        assert not torch.allclose(load_model(bare, fuse=False)(x), model(x))


def test_safetensors_with_arch_metadata(tmp_path):
    from safetensors.torch import save_file
    model = tiny_model(seed=7, upscale=3, act_type='silu')
    path = tmp_path / 'model.safetensors'
    save_file(model.state_dict(), str(path), metadata={'aidn_arch': json.dumps({'act_type': 'silu'})})
    loaded = load_model(path, scale=3, fuse=False)
    _same_output(loaded, model)


def test_basicsr_load_network_reads_our_files(tmp_path):
    """A published file is a plain BasicSR checkpoint: BaseModel.load_network loads it."""
    from basicsr.models.base_model import BaseModel
    model = tiny_model(seed=8)
    path = tmp_path / 'published.pth'
    save_checkpoint(path, model.state_dict(), {'act_type': 'lrelu'})
    target = tiny_model(seed=9)
    BaseModel.load_network(BaseModel.__new__(BaseModel), target, str(path), strict=True)
    _same_output(target, model)


# ---- bad checkpoints: one clear error that names the file and says what was found ----

def test_missing_file_and_folder(tmp_path):
    with pytest.raises(CheckpointError, match=r'nope\.pth: no such file'):
        load_model(tmp_path / 'nope.pth')
    with pytest.raises(CheckpointError, match='is a folder'):
        load_model(tmp_path)


@pytest.mark.parametrize('content', [b'', b'hello, I am a text file\n', b'not an image', b'PK\x03\x04broken zip'])
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / 'notes.pth'
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r'notes\.pth: not a PyTorch checkpoint'):
        load_model(path)


class Payload:
    """A pickled object whose unpickling would call a function: weights_only must refuse it."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_pickle_with_code_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'params': tiny_model().state_dict(), 'payload': Payload()}, path)
    with pytest.raises(CheckpointError, match=r'evil\.pth: holds a Python object \(\w+\.getcwd\).* weights_only=True'):
        load_model(path)


def test_other_architecture_is_named(tmp_path):
    from basicsr.archs.srvgg_arch import SRVGGNetCompact
    path = tmp_path / 'compact.pth'
    torch.save({'params': SRVGGNetCompact(num_feat=8, num_conv=2).state_dict()}, path)
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    message = str(info.value)
    assert 'compact.pth: not an AIDN checkpoint' in message and 'body.0.weight' in message


def test_other_scale_is_refused(tmp_path):
    path = tmp_path / 'x2.pth'
    torch.save({'params': tiny_model(upscale=2).state_dict()}, path)
    with pytest.raises(CheckpointError, match=r'x2\.pth: checkpoint is for x2, but x4 was asked for'):
        load_model(path, scale=4)


def test_no_weights_inside(tmp_path):
    path = tmp_path / 'state.pth'
    torch.save({'iter': 1000, 'optimizers': [{}]}, path)
    with pytest.raises(CheckpointError, match=r"state\.pth: no weights found.*'iter'"):
        load_model(path)


def test_stored_arch_contradicting_tensors(tmp_path):
    path = tmp_path / 'liar.pth'
    save_checkpoint(path, tiny_model(upscale=2).state_dict(), {'upscale': 4})
    with pytest.raises(CheckpointError, match=r'upscale=4 stored in the file, but the tensors .* upscale=2'):
        load_model(path)
    save_checkpoint(path, tiny_model(attention='none').state_dict(), {'attention': 'cca'})
    with pytest.raises(CheckpointError, match="attention='none'"):
        load_model(path)
    save_checkpoint(path, tiny_model().state_dict(), {'colour': 'blue'})
    with pytest.raises(CheckpointError, match='unknown AIDN argument'):
        load_model(path)


def test_damaged_tensors(tmp_path):
    state = tiny_model().state_dict()
    state['body.1.last.weight'] = torch.zeros(3, 3, 3, 3)
    path = tmp_path / 'damaged.pth'
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r'damaged\.pth: tensors do not fit AIDN\(.*body\.1\.last\.weight'):
        load_model(path)


def test_load_model_is_eval_and_on_device(tmp_path):
    path = tmp_path / 'm.pth'
    torch.save(tiny_model().state_dict(), path)
    model = load_model(path, device='cpu')
    assert not model.training and isinstance(model, AIDN)
    assert next(model.parameters()).device.type == 'cpu'
