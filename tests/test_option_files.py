"""The committed option files: well-formed, buildable, consistent; the demo one runs from a clean clone."""
import argparse
import re
from pathlib import Path

import pytest

from aidn_plugin.cli.option_checks import KNOWN_TOP_LEVEL_KEYS, check_option_file, load_option_file
from helpers import run, script

REPO = Path(__file__).resolve().parents[1]
OPTION_FILES = sorted((REPO / 'options').glob('*.yml'))
SECTION_ORDER = ['name', 'model_type', 'scale', 'num_gpu', 'manual_seed', 'datasets', 'network_g', 'path', 'train',
                 'val', 'logger', 'dist_params']


def test_every_scale_has_train_and_test_options():
    names = {p.name for p in OPTION_FILES}
    for scale in (2, 3, 4):
        assert {f'train_AIDN_x{scale}.yml', f'test_AIDN_x{scale}.yml'} <= names
    assert 'train_AIDN_x4_demo.yml' in names


@pytest.mark.parametrize('path', OPTION_FILES, ids=lambda p: p.name)
def test_option_file_is_consistent(path):
    from basicsr.archs import build_network
    from basicsr.utils.registry import DATASET_REGISTRY, MODEL_REGISTRY
    text = path.read_text()
    assert text.startswith('#'), 'a header comment says what data it needs and how long it runs'
    opt = load_option_file(path)
    assert set(opt) <= KNOWN_TOP_LEVEL_KEYS
    present = [key for key in SECTION_ORDER if key in opt]
    assert [key for key in opt if key in SECTION_ORDER] == present, "BasicSR's section order"
    MODEL_REGISTRY.get(opt['model_type'])
    for dataset in opt['datasets'].values():
        DATASET_REGISTRY.get(dataset['type'])
    net = build_network(opt['network_g'])
    assert net.upscale == opt['scale']
    scale = opt['scale']
    for metric in opt['val']['metrics'].values():
        assert metric['crop_border'] == scale and metric['test_y_channel'] is True
    if path.name.startswith('train_'):
        assert re.search(rf'x{scale}', opt['name'])
        assert isinstance(opt['train']['optim_g']['lr'], float)


def test_demo_options_pass_the_checks_on_a_clean_clone(monkeypatch):
    monkeypatch.chdir(REPO)
    check_option_file('options/train_AIDN_x4_demo.yml', 'train', argparse.Namespace(launcher='none'))
