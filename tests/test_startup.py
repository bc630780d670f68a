"""What each entry point imports: the package face and the quick commands stay free of torch, BasicSR and
mmengine; the plugin still registers in BasicSR and mmengine as soon as those are imported."""
import json

import pytest

from helpers import python

HEAVY = ('torch', 'basicsr', 'mmengine', 'cv2')
REPORT = f'import json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n'


def heavy_modules_after(code):
    result = python(code + '\n' + REPORT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_aidn_plugin_imports_no_heavy_library():
    assert heavy_modules_after('import aidn_plugin') == []


@pytest.mark.parametrize('argv', [['--help'], ['zoo', 'list'], ['zoo', 'info', 'aidn_x4'], ['upscale', '--help'],
                                  ['export', 'onnx', '--help'], ['prepare', '--help']])
def test_quick_aidn_commands_import_no_heavy_library(argv):
    code = ('from aidn_plugin.cli.aidn_cli import main\n'
            f'try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n')
    assert heavy_modules_after(code) == []


def test_upscale_needs_torch_but_not_basicsr(tmp_path):
    code = ('import cv2, numpy as np\n'
            f'cv2.imwrite({str(tmp_path / "in.png")!r}, np.full((12, 16, 3), 128, np.uint8))\n'
            'from aidn_plugin.cli.aidn_cli import main\n'
            f'assert main(["upscale", {str(tmp_path / "in.png")!r}, "-o", {str(tmp_path / "out.png")!r},'
            ' "-m", "aidn_x2"]) == 0\n')
    assert heavy_modules_after(code) == ['cv2', 'torch']
    assert (tmp_path / 'out.png').is_file()


def test_registration_follows_the_import_of_basicsr_and_mmengine():
    code = ('import aidn_plugin\n'
            'from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, MODEL_REGISTRY\n'
            'from mmengine.registry import MODELS\n'
            "assert ARCH_REGISTRY.get('AIDN') is aidn_plugin.AIDN\n"
            "assert 'EdgePairedImageDataset' in DATASET_REGISTRY and 'AIDNModel' in MODEL_REGISTRY\n"
            "assert MODELS.get('AIDN') is aidn_plugin.AIDN\n")
    assert {'basicsr', 'mmengine', 'torch'} <= set(heavy_modules_after(code))
