"""The edge operator shared by the dataset and the network."""
import pytest
import torch

from aidn_plugin.edges import EDGE_OPERATORS, edge_map


@pytest.mark.parametrize('operator', EDGE_OPERATORS)
def test_flat_image_gives_zero(operator):
    x = torch.full((2, 3, 9, 11), 0.37)
    assert torch.equal(edge_map(x, operator), torch.zeros(2, 1, 9, 11))


@pytest.mark.parametrize('operator', EDGE_OPERATORS)
def test_vertical_step_responds_on_step_columns_only(operator):
    x = torch.zeros(1, 3, 8, 10)
    x[..., 5:] = 1.0  # step between columns 4 and 5
    e = edge_map(x, operator)[0, 0]
    active = (e > 1e-6).any(dim=0).nonzero().flatten().tolist()
    assert active == [4, 5]
    # the response is the same down every row of a vertical step
    assert torch.allclose(e, e[:1].expand_as(e))
    assert float(e.max()) <= 1.0


def test_single_image_and_grey_input():
    rgb = torch.rand(3, 6, 7)
    assert edge_map(rgb).shape == (1, 6, 7)
    grey = (rgb * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
    assert torch.allclose(edge_map(grey), edge_map(rgb), atol=1e-6)


def test_differentiable_everywhere_including_flat_regions():
    x = torch.full((1, 3, 6, 6), 0.5)
    x[..., 3:] = 0.8
    x.requires_grad_(True)
    edge_map(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match='shape'):
        edge_map(torch.rand(4, 4))
    with pytest.raises(ValueError, match='shape'):
        edge_map(torch.rand(1, 2, 4, 4))
    with pytest.raises(ValueError, match='operator'):
        edge_map(torch.rand(1, 3, 4, 4), 'canny')


def test_exports_to_onnx_with_dynamic_size(tmp_path):
    import onnxruntime

    class EdgeOnly(torch.nn.Module):
        def forward(self, x):
            return edge_map(x)

    path = tmp_path / 'edge.onnx'
    torch.onnx.export(EdgeOnly(), (torch.rand(1, 3, 16, 16), ), str(path), dynamo=False, opset_version=17,
                      input_names=['x'], output_names=['edge'], dynamic_axes={'x': {0: 'n', 2: 'h', 3: 'w'}})
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    for shape in [(1, 3, 23, 31), (2, 3, 5, 4)]:
        x = torch.rand(*shape)
        (out, ) = session.run(None, {'x': x.numpy()})
        assert out.shape == (shape[0], 1, shape[2], shape[3])
        assert abs(out - edge_map(x).numpy()).max() < 1e-6


def test_edge_png_format_round_trips_and_refuses_other_images():
    import numpy as np

    from aidn_plugin.edges import decode_edge_png, encode_edge_png
    edge = edge_map(torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(0)))[0]
    stored = encode_edge_png(edge)
    assert stored.dtype == np.uint16 and stored.shape == (12, 10)
    back = decode_edge_png(stored)
    assert back.shape == (1, 12, 10) and back.dtype == torch.float32
    assert float((back - edge).abs().max()) <= 0.5 / 65535 + 1e-7  # rounding to 16 bits, nothing else
    assert np.array_equal(encode_edge_png(back), stored)
    with pytest.raises(ValueError, match=r'x\.png: an edge map must be a one-channel 16-bit PNG'):
        decode_edge_png(stored.astype(np.uint8), 'x.png')
