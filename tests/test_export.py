"""ONNX export: dynamic height/width (checked at sizes the graph was not traced with), onnxruntime equal
to PyTorch within 1e-4, fused equal to unfused, and nothing written when a check fails."""
import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from aidn_plugin.cli.aidn_cli import main as aidn_main
from aidn_plugin.inference.onnx_export import DEFAULT_OPSET, ExportError, export_onnx
from aidn_plugin.zoo.checkpoints import save_checkpoint
from zoo_helpers import tiny_model
from zoo_helpers import single_thread  # noqa: F401  (autouse fixture: one torch thread)

TOLERANCE = 1e-4


def _ort_vs_torch(path, model, shape):
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    x = torch.rand(*shape)
    got = session.run(None, {'input': x.numpy()})[0]
    with torch.no_grad():
        expected = model(x).numpy()
    assert got.shape == expected.shape
    return float(np.abs(got - expected).max())


@pytest.mark.slow
def test_export_command_dynamic_sizes_and_fused_equals_unfused(tmp_path, capsys):
    model = tiny_model(seed=41, upscale=2)
    weights = tmp_path / 'tiny_x2.pth'
    save_checkpoint(weights, model.state_dict(), {})
    fused_path, unfused_path = tmp_path / 'fused.onnx', tmp_path / 'unfused.onnx'
    assert aidn_main(['export', 'onnx', '--weights', str(weights), '-o', str(fused_path)]) == 0
    out = capsys.readouterr().out
    assert f'opset {DEFAULT_OPSET}' in out and out.count('max abs error') == 2
    assert aidn_main(['export', 'onnx', '--weights', str(weights), '-o', str(unfused_path), '--unfused']) == 0

    graph = onnx.load(str(fused_path))
    dims = [d.dim_param or d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', 3, 'height', 'width']
    assert {p.key: p.value for p in graph.metadata_props}['upscale'] == '2'
    # Sizes the graph was not traced with (traced at 64x64), a batch of two, and fused vs unfused.
    for shape in [(1, 3, 23, 31), (2, 3, 16, 70)]:
        assert _ort_vs_torch(fused_path, model, shape) < TOLERANCE
        assert _ort_vs_torch(unfused_path, model, shape) < TOLERANCE


def test_grey_x3_export(tmp_path):
    model = tiny_model(seed=42, upscale=3, num_in_ch=1, num_out_ch=1).fuse()
    report = export_onnx(model, tmp_path / 'grey.onnx')
    assert max(report['max_abs_error'].values()) < TOLERANCE
    assert _ort_vs_torch(tmp_path / 'grey.onnx', model, (1, 1, 10, 12)) < TOLERANCE


def test_failed_check_writes_nothing(tmp_path):
    with pytest.raises(ExportError, match=r'onnxruntime differs from PyTorch by up to .* \(tolerance 0\)'):
        export_onnx(tiny_model(seed=43).fuse(), tmp_path / 'm.onnx', tolerance=0.0)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_and_bad_weights_are_refused(tmp_path, capsys):
    target = tmp_path / 'm.onnx'
    target.write_bytes(b'keep me')
    notckpt = tmp_path / 'notes.pth'
    notckpt.write_text('hello')
    for argv, message in [(['--weights', str(notckpt), '-o', str(target), '--force'], 'not a PyTorch checkpoint'),
                          (['--weights', str(notckpt), '-o', str(target)], 'm.onnx exists (use --force'),
                          (['-m', 'aidn_x99', '-o', str(tmp_path / 'n.onnx')], "unknown model 'aidn_x99'")]:
        with pytest.raises(SystemExit) as info:
            aidn_main(['export', 'onnx', *argv])
        assert info.value.code == 2 and message in capsys.readouterr().err
    assert target.read_bytes() == b'keep me'
