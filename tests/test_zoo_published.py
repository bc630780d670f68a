"""The weights the package ships: intact, loadable with no network, and actually trained."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from aidn_plugin import zoo
from helpers import run, script

REPO = Path(__file__).resolve().parents[1]
# every published entry is shipped inside the package: a missing file fails its tests instead of
# silently shrinking this list
PACKAGED = list(zoo.ZOO.values())


def test_every_scale_is_published():
    assert {entry.scale for entry in PACKAGED} == {2, 3, 4}


@pytest.mark.parametrize('entry', PACKAGED, ids=lambda e: e.name)
def test_packaged_file_matches_its_entry(entry):
    path = zoo.packaged_path(entry)
    assert path.is_file(), f'{entry.name}: {path} is missing from the package'
    assert zoo.file_sha256(path) == entry.sha256
    assert path.name == entry.filename
    assert zoo.ensure_local(entry.name, allow_download=False) == path  # no network needed
    model = zoo.load_model(entry.name)
    assert model.upscale == entry.scale and model.fused
    assert torch.load(path, map_location='cpu', weights_only=True)['arch']['upscale'] == entry.scale


@pytest.mark.parametrize('entry', PACKAGED, ids=lambda e: e.name)
def test_packaged_weights_beat_bicubic_on_a_demo_image(entry):
    # the demo validation images are not in any training set; trained weights must beat bicubic there
    from basicsr.metrics import calculate_psnr
    from basicsr.utils.matlab_functions import imresize

    from aidn_plugin.inference.tiling import upscale_image
    scale = entry.scale
    hr = cv2.imread(str(REPO / 'datasets/demo/val/HR/coffee.png'), cv2.IMREAD_COLOR)
    lr = cv2.imread(str(REPO / f'datasets/demo/val/LR_bicubic/X{scale}/coffee.png'), cv2.IMREAD_COLOR)
    hr = hr[:lr.shape[0] * scale, :lr.shape[1] * scale]
    with torch.no_grad():
        sr = upscale_image(zoo.load_model(entry.name), lr)
    bicubic = np.clip(np.round(imresize(lr / 255., scale) * 255.), 0, 255).astype(np.uint8)
    gain = calculate_psnr(sr, hr, scale, test_y_channel=True) - calculate_psnr(bicubic, hr, scale, test_y_channel=True)
    assert gain > 0.3


def test_upscale_with_the_shipped_model_offline(tmp_path):
    image = cv2.imread(str(REPO / 'datasets/demo/val/LR_bicubic/X4/chelsea.png'))[:40, :50]
    cv2.imwrite(str(tmp_path / 'small.png'), image)
    # an unreachable hub cache: the packaged copy must be used, nothing downloaded
    result = run([script('aidn'), 'upscale', str(tmp_path / 'small.png'), '-o', str(tmp_path / 'out'), '-m', 'aidn_x4'],
                 env={'TORCH_HOME': str(tmp_path / 'no_hub')})
    assert result.returncode == 0, result.stderr
    out = cv2.imread(str(tmp_path / 'out' / 'small.png'))
    assert out.shape == (160, 200, 3)
    assert not (tmp_path / 'no_hub').exists()
