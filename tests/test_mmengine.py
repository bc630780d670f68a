"""mmengine: AIDN in the root MODELS registry (configs and MMagic-style child registries build it), and
``aidn profile`` with -m / --weights, counted with mmengine.analysis."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, Registry

import aidn_plugin.integrations.mmengine  # noqa: F401  (registration)
from aidn_plugin.archs.aidn_arch import AIDN
from aidn_plugin.cli.aidn_cli import main as aidn_main
from aidn_plugin.archs.complexity import count_complexity
from aidn_plugin.zoo.checkpoints import save_checkpoint
from zoo_helpers import tiny_model
from zoo_helpers import single_thread  # noqa: F401  (autouse fixture: one torch thread)


def test_build_from_dict_and_from_a_child_registry():
    model = MODELS.build(dict(type='AIDN', upscale=3, num_feat=8, num_block=2, num_out=2, act_type='gelu'))
    assert isinstance(model, AIDN) and model.upscale == 3 and len(model.body) == 2
    # MMagic's registry is a child of mmengine's root MODELS with its own scope.
    child = Registry('model', parent=MODELS, scope='mmagic_like')
    assert isinstance(child.build(dict(type='AIDN', upscale=2)), AIDN)


def test_build_from_a_config_file(tmp_path):
    config = tmp_path / 'aidn_x2_config.py'
    config.write_text("model = dict(type='AIDN', upscale=2, num_feat=8, num_block=2, num_out=2, deploy=True)\n")
    model = MODELS.build(Config.fromfile(str(config)).model)
    assert model.upscale == 2 and model.fused
    assert model(torch.rand(1, 3, 8, 8)).shape == (1, 3, 16, 16)


def test_profile_with_weights(tmp_path, capsys):
    weights = tmp_path / 'tiny_x2.pth'
    save_checkpoint(weights, tiny_model(seed=61, upscale=2).state_dict(), {})
    assert aidn_main(['profile', '--weights', str(weights), '--size', '64x48']) == 0
    out = capsys.readouterr().out
    expected = count_complexity(tiny_model(seed=61, upscale=2).fuse(), (64, 48), 2)
    assert 'AIDN x2' in out and f'parameters : {expected["params"]:,}' in out
    assert f'MACs       : {expected["macs"] / 1e9:.2f} G' in out
    # The existing flags still work without weights.
    assert aidn_main(['profile', '--scale', '2', '--num-feat', '8', '--num-block', '3', '--size', '64x48']) == 0
    assert 'AIDN x2, fused' in capsys.readouterr().out


@pytest.mark.parametrize('argv, message', [
    (['--num-feat', '16'], '--num-feat cannot be combined with -m / --weights'),
    (['--scale', '4'], 'checkpoint is for x2, but x4 was asked for'),
])
def test_profile_refusals(tmp_path, capsys, argv, message):
    weights = tmp_path / 'tiny_x2.pth'
    save_checkpoint(weights, tiny_model(upscale=2).state_dict(), {})
    with pytest.raises(SystemExit) as info:
        aidn_main(['profile', '--weights', str(weights), *argv])
    assert info.value.code == 2 and message in capsys.readouterr().err
