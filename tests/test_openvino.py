"""The OpenVINO runtime (``aidn_plugin.inference.ov_runtime``) with real files and real compiled models: fp32
agrees with torch whole and tiled, bf16 stays close, and a missing file or a missing openvino is one line."""
import numpy as np
import pytest
import torch

from aidn_plugin.inference import ov_runtime
from aidn_plugin.inference.onnx_export import export_onnx
from aidn_plugin.inference.tiling import upscale_image
from helpers import python, read_image16, write_image16
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


def test_converted_in_memory_equals_torch_at_any_size(exported, photo_rgb):
    torch_model, _ = exported
    model = ov_runtime.convert(torch_model, threads=1)
    assert (model.upscale, model.num_in_ch, model.precision) == (4, 3, 'fp32')
    for top, left, height, width in ((0, 0, 32, 48), (90, 120, 17, 29)):  # dynamic height and width
        x = torch.from_numpy(photo_rgb[top:top + height, left:left + width].transpose(2, 0, 1)[None]
                             .astype(np.float32) / 255.)
        with torch.no_grad():
            expected = torch_model(x)
        assert model(x).shape == expected.shape and (model(x) - expected).abs().max() <= FP32_TOLERANCE


@pytest.mark.parametrize('options', [dict(num_in_ch=1, num_out_ch=1, upscale=3), dict(upscale=2, edge_input=False)],
                         ids=['grey-x3', 'x2-no-edge'])
def test_converted_in_memory_other_scales_and_channels(options):
    torch_model = tiny_model(seed=7, **options).fuse().eval()
    model = ov_runtime.convert(torch_model, threads=1)
    assert (model.upscale, model.num_in_ch) == (options['upscale'], options.get('num_in_ch', 3))
    x = torch.rand(1, model.num_in_ch, 21, 30, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (model(x) - torch_model(x)).abs().max() <= FP32_TOLERANCE


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


# ------------------------------------------------------------------------------------------ aidn upscale
def _image16(path, photo_rgb, height=24, width=36):
    return write_image16(path, photo_rgb, height, width)


_read16 = read_image16


@pytest.fixture(scope='module')
def tiny_weights(tmp_path_factory):
    from aidn_plugin.zoo.checkpoints import save_checkpoint
    path = tmp_path_factory.mktemp('w') / 'tiny_x4.pth'
    save_checkpoint(path, tiny_model(seed=43, upscale=4).state_dict(), {})
    return path


def test_upscale_backend_openvino_equals_torch_and_says_what_ran(tmp_path, photo_rgb, tiny_weights, exported, capsys):
    from aidn_plugin.cli.aidn_cli import main as aidn_main
    from aidn_plugin.inference import precision
    image = _image16(tmp_path / 'a.png', photo_rgb)
    common = [str(image), '--tile', '16', '--tile-overlap', '4']
    assert aidn_main(['upscale', *common, '--weights', str(tiny_weights), '--precision', 'fp32', '-q',
                      '-o', str(tmp_path / 'torch.png')]) == 0
    assert aidn_main(['upscale', *common, '--weights', str(tiny_weights), '--backend', 'openvino',
                      '-o', str(tmp_path / 'ov.png')]) == 0
    out = capsys.readouterr().out
    # weights without a measurement stay fp32 under auto, whatever the CPU; the line says why
    expected = precision.choose('auto', 'cpu', 'openvino', None)
    assert expected[0] == 'fp32' and f'openvino on cpu, precision fp32 ({expected[1]})' in out
    assert aidn_main(['upscale', *common, '--onnx', str(exported[1]), '--backend', 'openvino', '-q',
                      '-o', str(tmp_path / 'file.png')]) == 0
    reference = _read16(tmp_path / 'torch.png')
    for name in ('ov.png', 'file.png'):
        assert np.abs(_read16(tmp_path / name) - reference).max() <= FP32_TOLERANCE + 2 / 65535, name


def test_auto_follows_the_cpu_and_the_zoo_measurement(tmp_path, photo_rgb, capsys):
    from aidn_plugin import zoo
    from aidn_plugin.cli.aidn_cli import main as aidn_main
    from aidn_plugin.inference import precision
    image = _image16(tmp_path / 'a.png', photo_rgb, 12, 16)
    assert aidn_main(['upscale', str(image), '-m', 'aidn_x4', '--device', 'cpu', '-o', str(tmp_path / 'x4.png')]) == 0
    chosen, why = precision.choose('auto', 'cpu', 'torch', zoo.ZOO['aidn_x4'].bf16_psnr_change['torch'])
    assert f'aidn upscale: torch on cpu, precision {chosen} ({why})' in capsys.readouterr().out


def test_bf16_on_openvino_runs_only_where_the_cpu_has_it(tmp_path, photo_rgb, tiny_weights, capsys):
    from aidn_plugin.cli.aidn_cli import main as aidn_main
    from aidn_plugin.inference import precision
    image = _image16(tmp_path / 'a.png', photo_rgb, 12, 16)
    argv = ['upscale', str(image), '--weights', str(tiny_weights), '--backend', 'openvino', '--precision', 'bf16',
            '-o', str(tmp_path / 'bf16.png')]
    if precision.native_bf16(precision.cpu_flags()):
        assert aidn_main(argv) == 0 and 'precision bf16 (as asked)' in capsys.readouterr().out
    else:
        with pytest.raises(SystemExit) as stop:
            aidn_main(argv)
        assert stop.value.code == 2 and 'AVX-512 BF16 or AMX' in capsys.readouterr().err
        assert not (tmp_path / 'bf16.png').exists()


def test_backend_openvino_without_the_extra_is_one_line(tmp_path, photo_rgb, tiny_weights):
    image = _image16(tmp_path / 'a.png', photo_rgb, 12, 16)
    result = python('import sys; sys.modules["openvino"] = None\n'
                    'from aidn_plugin.cli.aidn_cli import main\n'
                    f'main(["upscale", {str(image)!r}, "--weights", {str(tiny_weights)!r}, "--backend", "openvino",'
                    f' "-o", {str(tmp_path / "o.png")!r}])\n')
    assert result.returncode == 2
    assert result.stderr.strip() == ('aidn upscale: error: --backend openvino needs the openvino extra (openvino is '
                                     'missing): pip install "aidn-plugin[openvino]"')
    assert not (tmp_path / 'o.png').exists()


def test_export_openvino_writes_ir_that_upscale_runs(tmp_path, photo_rgb, tiny_weights, capsys):
    """aidn export openvino: the converted graph as IR (.xml + .bin); aidn upscale --onnx OUT.xml runs it in
    OpenVINO (chosen by the suffix) and gives the torch path's image."""
    from aidn_plugin.cli.aidn_cli import main as aidn_main
    out = tmp_path / 'tiny.xml'
    assert aidn_main(['export', 'openvino', '--weights', str(tiny_weights), '-o', str(out)]) == 0
    assert out.is_file() and (tmp_path / 'tiny.bin').is_file() and 'wrote' in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ['tiny.bin', 'tiny.xml']  # no temporary left
    with pytest.raises(SystemExit) as stop:  # exists: refused without --force, nothing touched
        aidn_main(['export', 'openvino', '--weights', str(tiny_weights), '-o', str(out)])
    assert stop.value.code == 2 and 'use --force' in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        aidn_main(['export', 'openvino', '--weights', str(tiny_weights), '-o', str(tmp_path / 'tiny.onnx')])
    assert stop.value.code == 2 and 'ends in .xml' in capsys.readouterr().err
    image = _image16(tmp_path / 'a.png', photo_rgb)
    common = [str(image), '--tile', '16', '--tile-overlap', '4']
    assert aidn_main(['upscale', *common, '--weights', str(tiny_weights), '--precision', 'fp32', '-q',
                      '-o', str(tmp_path / 'torch.png')]) == 0
    assert aidn_main(['upscale', *common, '--onnx', str(out), '-o', str(tmp_path / 'ir.png')]) == 0
    assert 'aidn upscale: openvino on cpu, precision fp32' in capsys.readouterr().out
    assert np.abs(_read16(tmp_path / 'ir.png') - _read16(tmp_path / 'torch.png')).max() <= FP32_TOLERANCE + 2 / 65535


def test_export_openvino_without_the_extra_is_one_line(tmp_path, tiny_weights):
    out = tmp_path / 'm.xml'
    result = python('import sys; sys.modules["openvino"] = None\n'
                    'from aidn_plugin.cli.aidn_cli import main\n'
                    f'main(["export", "openvino", "--weights", {str(tiny_weights)!r}, "-o", {str(out)!r}])\n')
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert result.stderr.strip() == ('aidn export: error: OpenVINO export needs the openvino extra: '
                                     'pip install "aidn-plugin[openvino]"')
    assert list(tmp_path.iterdir()) == []
