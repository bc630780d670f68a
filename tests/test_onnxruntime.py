"""The onnxruntime backend of ``aidn upscale`` and ``aidn export onnx --int8``, with real files and real
sessions: the backend's output agrees with the torch path, an int8 file runs and stays close to fp32, and
user mistakes get one-line errors."""
import cv2
import numpy as np
import onnx
import pytest
import torch

from aidn_plugin.cli.aidn_cli import main as aidn_main
from aidn_plugin.inference import onnx_quantize, ort_runtime
from aidn_plugin.inference.onnx_export import export_onnx
from aidn_plugin.zoo.checkpoints import save_checkpoint
from helpers import call_main, python, read_image16, write_image16, write_photo_crops
from zoo_helpers import tiny_model
from zoo_helpers import single_thread  # noqa: F401  (autouse fixture: one torch thread)

pytest.importorskip('onnxruntime')

BACKEND_TOLERANCE = 1e-4  # the bound on |onnxruntime - torch|, in [0, 1] pixel units
INT8_MIN_DB = 35.  # Y-PSNR of the int8 output against the fp32 output (the shipped x4 measures ~50 dB)


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp('w') / 'tiny_x2.pth'
    save_checkpoint(path, tiny_model(seed=41, upscale=2).state_dict(), {})
    return path


@pytest.fixture(scope='module')
def onnx_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('onnx') / 'tiny_x2.onnx'
    export_onnx(tiny_model(seed=41, upscale=2).fuse(), path)
    return path


def _image16(path, photo_rgb, height=30, width=44):
    return write_image16(path, photo_rgb, height, width)


_read = read_image16


@pytest.mark.parametrize('tiling', [['--tile', '0'], ['--tile', '20', '--tile-overlap', '4']], ids=['whole', 'tiled'])
def test_onnxruntime_backend_equals_torch(tmp_path, photo_rgb, weights, onnx_file, tiling):
    image = _image16(tmp_path / 'a.png', photo_rgb)
    common = [str(image), '--weights', str(weights), '-q', *tiling]
    assert aidn_main(['upscale', *common, '-o', str(tmp_path / 'torch.png')]) == 0
    assert aidn_main(['upscale', *common, '-o', str(tmp_path / 'ort.png'), '--backend', 'onnxruntime']) == 0
    assert aidn_main(['upscale', str(image), '--onnx', str(onnx_file), '-q', *tiling,
                      '-o', str(tmp_path / 'file.png')]) == 0
    reference = _read(tmp_path / 'torch.png')
    assert reference.shape == (60, 88, 3)
    for name in ('ort.png', 'file.png'):
        # each output is rounded to 1/65535, so the two roundings add at most one step
        assert np.abs(_read(tmp_path / name) - reference).max() <= BACKEND_TOLERANCE + 1 / 65535


def test_ort_model_interface(onnx_file):
    model = ort_runtime.load(onnx_file, threads=1)
    assert (model.upscale, model.num_in_ch) == (2, 3)
    x = torch.rand(2, 3, 9, 13)
    out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3, 18, 26)
    assert np.array_equal(model.run(x.numpy()), out.numpy())
    with torch.no_grad():
        expected = tiny_model(seed=41, upscale=2).fuse()(x)
    assert (out - expected).abs().max() <= BACKEND_TOLERANCE


def test_int8_export_runs_and_stays_close_to_fp32(tmp_path, weights, capsys):
    calibration = write_photo_crops(tmp_path / 'cal', 3, 64)
    target = tmp_path / 'int8.onnx'
    code, out, err = call_main(aidn_main, ['export', 'onnx', '--weights', str(weights), '-o', str(target),
                                           '--int8', '--calibration', str(calibration)], capsys)
    assert code == 0, err
    assert 'int8 (qdq' in out and 'calibration on 2 images' in out
    assert 'Y-PSNR on 1 held-out image(s)' in out and 'change' in out
    int8 = ort_runtime.load(target, threads=1)
    assert int8.upscale == 2
    graph = {node.op_type for node in onnx.load(str(target)).graph.node}
    assert 'QuantizeLinear' in graph and 'DequantizeLinear' in graph
    hr, lr = onnx_quantize.hr_lr_pair(str(calibration / 'img000.png'), 2, patch=32)
    with torch.no_grad():
        fp32 = onnx_quantize.upscale_rgb(tiny_model(seed=41, upscale=2).fuse(), lr)
    assert onnx_quantize.y_psnr(onnx_quantize.upscale_rgb(int8, lr), fp32, 2) >= INT8_MIN_DB


def test_mistakes_give_one_line_errors(tmp_path, photo_rgb, weights, onnx_file, capsys):
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), photo_rgb[:20, :20])
    upscale = ['upscale', str(image), '-o', str(tmp_path / 'out')]
    export = ['export', 'onnx', '--weights', str(weights), '-o', str(tmp_path / 'x.onnx')]
    cases = [
        (upscale + ['--weights', str(weights), '--backend', 'tensorrt'], "invalid choice: 'tensorrt'"),
        (upscale, 'a model is needed: -m/--model NAME, --weights PATH or --onnx FILE'),
        (upscale + ['--weights', str(weights), '--onnx', str(onnx_file)], '--weights and --onnx both name the model'),
        (upscale + ['--onnx', str(onnx_file), '--backend', 'torch'], '--onnx FILE runs in onnxruntime'),
        (upscale + ['--onnx', str(onnx_file), '--unfused'], '--unfused applies to --backend torch only'),
        (upscale + ['--onnx', str(tmp_path / 'gone.onnx')], 'gone.onnx: no such ONNX file'),
        (upscale + ['--onnx', str(onnx_file), '--scale', '4'], 'the model is x2, but --scale 4 was given'),
        (export + ['--int8', '--calibration', str(tmp_path / 'nowhere')], '--calibration'),
        (export + ['--calibration', str(tmp_path)], '--calibration applies to --int8 only'),
        (export + ['--int8', '--calibration-method', 'mse'], "invalid choice: 'mse'"),
    ]
    for argv, message in cases:
        code, out, err = call_main(aidn_main, argv, capsys)
        assert code == 2 and message in err, (argv, err)
        assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'out').exists() and not (tmp_path / 'x.onnx').exists()


def test_missing_onnxruntime_is_one_line(tmp_path, photo_rgb, onnx_file):
    """In a fresh interpreter where onnxruntime cannot be imported (``sys.modules`` entry None)."""
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), photo_rgb[:20, :20])
    code = ('import sys\nsys.modules["onnxruntime"] = None\n'
            'from aidn_plugin.cli.aidn_cli import main\n'
            f'sys.exit(main(["upscale", {str(image)!r}, "-o", {str(tmp_path / "out")!r}, '
            f'"--onnx", {str(onnx_file)!r}]))')
    result = python(code)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith('pip install "aidn-plugin[onnx]"')
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
