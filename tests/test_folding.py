"""The asymmetric convolution unit against its definition: three separate convolutions, summed.

The unit never runs its three branches: in both forms it runs one 3x3 convolution whose kernel is the
1x3 and 3x1 kernels folded into the centre row and column of the 3x3 one (and, with ``residual=True``,
the identity folded into the centre tap). So the definition is computed here from scratch, with
``F.conv2d`` on each branch's own kernel and padding, and compared with the unit's forward pass in the
training form and after ``fuse()``.
"""
import pytest
import torch
import torch.nn.functional as F

from aidn_plugin.archs.aidn_arch import AsymmetricConvUnit


def _unit(channels, seed):
    torch.manual_seed(seed)
    unit = AsymmetricConvUnit(channels).double()
    with torch.no_grad():  # away from the initialisation, so that every branch matters
        for parameter in unit.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    return unit


def _three_convolutions(unit, x):
    """ACNet's definition: conv3x3(x) + conv1x3(x) + conv3x1(x), each with its own zero padding."""
    return (F.conv2d(x, unit.conv3x3.weight, unit.conv3x3.bias, padding=(1, 1))
            + F.conv2d(x, unit.conv1x3.weight, None, padding=(0, 1))
            + F.conv2d(x, unit.conv3x1.weight, None, padding=(1, 0)))


@pytest.mark.parametrize('channels, height, width', [(4, 9, 7), (8, 1, 5), (6, 12, 1)])
def test_unit_equals_three_separate_convolutions(channels, height, width):
    unit = _unit(channels, seed=channels)
    x = torch.rand(2, channels, height, width, dtype=torch.float64)
    with torch.no_grad():
        expected = _three_convolutions(unit, x)
        # the training form (branches folded on every call) and its residual variant
        assert torch.allclose(unit(x), expected, rtol=0, atol=1e-12)
        assert torch.allclose(unit(x, residual=True), expected + x, rtol=0, atol=1e-12)
        # the fused form: one 3x3 convolution, no 1x3/3x1 parameters left
        unit.fuse()
        assert unit.fused and not hasattr(unit, 'conv1x3') and not hasattr(unit, 'conv3x1')
        assert torch.allclose(unit(x), expected, rtol=0, atol=1e-12)
        assert torch.allclose(F.conv2d(x, unit.conv3x3.weight, unit.conv3x3.bias, padding=1), expected,
                              rtol=0, atol=1e-12)
        assert torch.allclose(unit(x, residual=True), expected + x, rtol=0, atol=1e-12)


def test_gradients_reach_all_three_branches_as_in_the_definition():
    """Folding on the fly must train the branches exactly as three convolutions would."""
    x = torch.rand(1, 4, 6, 6, dtype=torch.float64)
    grads = []
    for forward in (lambda unit: unit(x), lambda unit: _three_convolutions(unit, x)):
        unit = _unit(4, seed=5)
        (forward(unit) ** 2).sum().backward()
        grads.append([p.grad for p in (unit.conv3x3.weight, unit.conv3x3.bias, unit.conv1x3.weight,
                                       unit.conv3x1.weight)])
    for folded, separate in zip(*grads):
        assert torch.allclose(folded, separate, rtol=1e-10, atol=1e-12)

