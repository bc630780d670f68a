"""The one edge operator of the project, shared by the dataset and the network.

``edge_map(x)`` turns an RGB (or grey) image with values in [0, 1] into a one-channel edge image: the
gradient magnitude of its BT.601 luma. It has no parameters, is differentiable everywhere (also on flat
regions, where a plain ``sqrt`` would give an infinite gradient), and exports to ONNX (a fixed convolution
and an edge-replicating pad).

Operators (``operator=``):
    ``sobel``     (default) Sobel gradient magnitude.
    ``scharr``    Scharr gradient magnitude (better rotational symmetry).
    ``laplacian`` absolute value of the 4-neighbour Laplacian.

Every operator is divided by its largest possible response, so the map lies in [0, 1] for inputs in [0, 1].
Borders replicate the edge pixels, so a flat image gives exactly zero everywhere.
"""
import math

import torch
import torch.nn.functional as F

EDGE_OPERATORS = ('sobel', 'scharr', 'laplacian')

# BT.601 luma weights, as BasicSR's rgb2ycbcr uses them (without the 16..235 offset and scale).
_LUMA = (0.299, 0.587, 0.114)

# Avoids the infinite derivative of sqrt at 0; subtracted again so that a flat image maps to exactly 0.
_EPS = 1e-12


def _derivative_kernels(operator):
    """Return (kernels [k, 1, 3, 3], largest response) for one operator."""
    if operator == 'sobel':
        smooth, norm = (1., 2., 1.), 4. * math.sqrt(2.)
    elif operator == 'scharr':
        smooth, norm = (3., 10., 3.), 16. * math.sqrt(2.)
    elif operator == 'laplacian':
        lap = torch.tensor([[0., 1., 0.], [1., -4., 1.], [0., 1., 0.]])
        return lap.view(1, 1, 3, 3), 4.
    else:
        raise ValueError(f'edge operator must be one of {EDGE_OPERATORS}, got {operator!r}')
    s = torch.tensor(smooth)
    d = torch.tensor((-1., 0., 1.))
    gx = torch.outer(s, d)  # derivative across columns: responds to vertical edges
    gy = torch.outer(d, s)
    return torch.stack((gx, gy)).unsqueeze(1), norm


def luma(x):
    """BT.601 luma of a [N, 3, H, W] RGB batch; a [N, 1, H, W] batch is returned as it is."""
    if x.shape[1] == 1:
        return x
    weights = x.new_tensor(_LUMA).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def edge_map(x, operator='sobel'):
    """Edge image of ``x``.

    Args:
        x (Tensor): RGB or grey image(s), values in [0, 1]: [N, C, H, W] or a single [C, H, W], C in {1, 3}.
        operator (str): ``sobel`` (default), ``scharr`` or ``laplacian``.

    Returns:
        Tensor: [N, 1, H, W] (or [1, H, W] for a single image), same dtype and device as ``x``, in [0, 1].
    """
    if not torch.is_tensor(x):
        raise TypeError(f'edge_map: x must be a torch.Tensor, got {type(x).__name__}')
    single = x.dim() == 3
    if single:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f'edge_map: x must be [N, C, H, W] or [C, H, W] with C in (1, 3), got shape {tuple(x.shape)}')
    kernels, norm = _derivative_kernels(operator)
    y = F.pad(luma(x), (1, 1, 1, 1), mode='replicate')
    responses = F.conv2d(y, kernels.to(dtype=x.dtype, device=x.device))
    if operator == 'laplacian':
        # |r| = sqrt(r^2): smooth at 0 through the same epsilon trick as the gradient magnitude.
        squared = responses.square()
    else:
        squared = responses.square().sum(dim=1, keepdim=True)
    eps = torch.tensor(_EPS, dtype=x.dtype, device=x.device)
    magnitude = (torch.sqrt(squared + eps) - torch.sqrt(eps)) / norm
    return magnitude[0] if single else magnitude
