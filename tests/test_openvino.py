"""The OpenVINO runtime (``aidn_plugin.inference.ov_runtime``) with real files and real compiled models: fp32
agrees with torch whole and tiled, bf16 stays close, and a missing file or a missing openvino is one line."""
import numpy as np
import pytest
import torch

from aidn_plugin.inference import ov_runtime
from aidn_plugin.inference.onnx_export import export_onnx
from aidn_plugin.inference.tiling import upscale_image
from helpers import python
from zoo_helpers import tiny_model
from zoo_helpers import single_thread  # noqa: F401  (autouse fixture: one torch thread)

pytest.importorskip('openvino')
pytest.importorskip('onnx')

FP32_TOLERANCE = 1e-4  # |OpenVINO fp32 - torch|, in [0, 1] pixel units (the ONNX Runtime backend's bound)
BF16_MIN_DB = 40.  # PSNR of OpenVINO bf16 against torch fp32 on a photograph (the shipped x4: about 50 dB)


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    model = tiny_model(seed=43, upscale=4).fuse().eval()
    path = tmp_path_factory.mktemp('ov') / 'tiny_x4.onnx'
    export_onnx(model, path)
    return model, path


def _psnr(a, b):
    return 10 * np.log10(1. / np.mean((a - b) ** 2))


def test_fp32_equals_torch_whole_and_tiled(exported, photo_rgb):
    torch_model, path = exported
    model = ov_runtime.load(path, threads=1)
    assert (model.upscale, model.num_in_ch, model.precision) == (4, 3, 'fp32')
    x = torch.from_numpy(photo_rgb[100:132, 150:198].transpose(2, 0, 1)[None].astype(np.float32) / 255.)
    with torch.no_grad():
        expected = torch_model(x)
    assert (model(x) - expected).abs().max() <= FP32_TOLERANCE
    image = np.ascontiguousarray(photo_rgb[60:110, 40:105, ::-1])  # BGR uint8, as OpenCV reads it
    with torch.no_grad():
        whole = upscale_image(torch_model, image, tile=0)
        tiled_torch = upscale_image(torch_model, image, tile=20, overlap=4)
    tiled = upscale_image(model, image, tile=20, overlap=4)
    assert tiled.shape == whole.shape == (200, 260, 3)
    # the same tiles as torch's, to one 8-bit step; and tiling's own seams, as for torch (tests/test_upscale.py)
    assert np.abs(tiled.astype(int) - tiled_torch).max() <= 1
    assert _psnr(tiled / 255., whole / 255.) > 50


def test_bf16_stays_close_to_fp32(exported, photo_rgb):
    torch_model, path = exported
    model = ov_runtime.load(path, threads=1, precision='bf16')
    x = torch.from_numpy(photo_rgb[100:164, 150:214].transpose(2, 0, 1)[None].astype(np.float32) / 255.)
    with torch.no_grad():
        expected = torch_model(x).numpy()
    assert model.precision == 'bf16' and _psnr(model(x.numpy()), expected) > BF16_MIN_DB


def test_a_missing_or_foreign_file_is_one_line(tmp_path):
    with pytest.raises(ov_runtime.OvModelError, match='no such model file'):
        ov_runtime.load(tmp_path / 'nothing.onnx')
    (tmp_path / 'text.onnx').write_text('not a model')
    with pytest.raises(ov_runtime.OvModelError, match='OpenVINO cannot load it') as error:
        ov_runtime.load(tmp_path / 'text.onnx')
    assert '\n' not in str(error.value)
    with pytest.raises(ValueError, match='precision must be one of fp32, bf16'):
        ov_runtime.load(tmp_path / 'text.onnx', precision='fp16')


def test_without_openvino_the_error_names_the_extra(exported):
    _, path = exported
    result = python('import sys; sys.modules["openvino"] = None\n'
                    'from aidn_plugin.inference import ov_runtime\n'
                    'try:\n'
                    f'    ov_runtime.load({str(path)!r})\n'
                    'except ov_runtime.MissingRuntimeError as error:\n'
                    '    print(error)\n')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'the openvino backend needs OpenVINO: pip install "aidn-plugin[openvino]"'
