"""The compat layer: BasicSR 1.4.2 on today's torchvision, each workaround only where needed."""
import shutil
import sys
from pathlib import Path

import pytest

from helpers import python

CHECK_REGISTERED = (
    "from basicsr.utils.registry import ARCH_REGISTRY\n"
    "print('AIDN' in ARCH_REGISTRY, sorted(aidn_plugin.compat.applied()))\n")


def test_import_plugin_then_basicsr():
    result = python('import aidn_plugin, basicsr\n' + CHECK_REGISTERED)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('True')


def test_failed_basicsr_import_then_plugin_recovers():
    # On torchvision >= 0.17 a bare `import basicsr` (1.4.2) fails; importing the plugin afterwards works.
    code = ('try:\n    import basicsr\nexcept ImportError as e:\n    print("basicsr failed:", e)\n'
            'import aidn_plugin\nimport basicsr.train\n' + CHECK_REGISTERED)
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert 'True' in result.stdout.splitlines()[-1]


@pytest.fixture(scope='module')
def fixed_basicsr(tmp_path_factory):
    """A copy of the installed BasicSR whose degradations.py already imports the public torchvision API,
    as BasicSR's later sources do: a build that carries the fix."""
    import basicsr
    root = tmp_path_factory.mktemp('fixed_basicsr')
    target = root / 'basicsr'
    shutil.copytree(Path(basicsr.__file__).parent, target, ignore=shutil.ignore_patterns('__pycache__'))
    degradations = target / 'data' / 'degradations.py'
    text = degradations.read_text()
    assert 'torchvision.transforms.functional_tensor' in text
    degradations.write_text(text.replace('torchvision.transforms.functional_tensor', 'torchvision.transforms.functional'))
    return root


def test_fixed_basicsr_needs_no_alias_in_either_import_order(fixed_basicsr):
    for first, second in (('basicsr', 'aidn_plugin'), ('aidn_plugin', 'basicsr')):
        code = (f'import sys\nsys.path.insert(0, {str(fixed_basicsr)!r})\nimport {first}\nimport {second}\n'
                f'assert basicsr.__file__.startswith({str(fixed_basicsr)!r}), basicsr.__file__\n'
                "print('torchvision.transforms.functional_tensor' in sys.modules)\n" + CHECK_REGISTERED)
        result = python(code)
        assert result.returncode == 0, result.stderr
        alias_present, registered = result.stdout.splitlines()
        assert alias_present == 'False'
        assert registered.startswith('True') and 'torchvision_functional_tensor' not in registered


def test_alias_left_alone_when_the_module_exists():
    # Someone (another plugin, an older torchvision) already provides the module: keep theirs.
    code = ('import sys, types\nmine = types.ModuleType("torchvision.transforms.functional_tensor")\n'
            'from torchvision.transforms import _functional_tensor\nmine.rgb_to_grayscale = _functional_tensor.rgb_to_grayscale\n'
            'sys.modules["torchvision.transforms.functional_tensor"] = mine\nimport aidn_plugin\n'
            'assert sys.modules["torchvision.transforms.functional_tensor"] is mine\n' + CHECK_REGISTERED)
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert 'torchvision_functional_tensor' not in result.stdout


def test_apply_is_idempotent():
    import basicsr.train
    from basicsr.models.base_model import BaseModel
    from basicsr.utils import dist_util

    import aidn_plugin
    before = (basicsr.train.load_resume_state, BaseModel.model_to_device, dist_util._init_dist_pytorch)
    assert aidn_plugin.compat.apply() == aidn_plugin.compat.applied()
    after = (basicsr.train.load_resume_state, BaseModel.model_to_device, dist_util._init_dist_pytorch)
    assert before == after


def test_cuda_patches_follow_cuda_availability():
    import torch

    import aidn_plugin
    cuda_patches = {'cpu_distributed_init', 'cpu_ddp_wrapping', 'cpu_resume_state'}
    active = set(aidn_plugin.compat.applied()) & cuda_patches
    # on a CUDA machine BasicSR's own code stays; without CUDA all three workarounds are active
    assert active == (set() if torch.cuda.is_available() else cuda_patches)


def test_plugin_loads_through_entry_point():
    from aidn_plugin.cli.plugins import load_plugins
    assert 'aidn (aidn_plugin)' in load_plugins(stream=sys.stderr)
