"""The one edge operator of the project, shared by the dataset and the network.

``edge_map(x)`` turns an RGB (or grey) image with values in [0, 1] into a one-channel edge image: the
gradient magnitude of its BT.601 luma. It has no parameters, is differentiable everywhere (also on flat
regions, where a plain ``sqrt`` would give an infinite gradient), and exports to ONNX (slices, differences
and an edge-replicating pad).

Operators (``operator=``):
    ``sobel``     (default) Sobel gradient magnitude.
    ``scharr``    Scharr gradient magnitude (better rotational symmetry).
    ``laplacian`` absolute value of the 4-neighbour Laplacian.

Every operator is divided by its largest possible response, so the map lies in [0, 1] for inputs in [0, 1].
Borders replicate the edge pixels, so a flat image gives exactly zero everywhere.

Stored edge maps (``aidn prepare edges``, read back by the dataset's ``dataroot_edge``) are one-channel 16-bit
PNGs with value ``round(edge * 65535)``: :func:`encode_edge_png` and :func:`decode_edge_png`.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

EDGE_OPERATORS = ('sobel', 'scharr', 'laplacian')

# stored edge maps: value = round(edge * EDGE_PNG_MAX) in a one-channel 16-bit PNG
EDGE_PNG_MAX = 65535

# BT.601 luma weights, as BasicSR's rgb2ycbcr uses them (without the 16..235 offset and scale).
_LUMA = (0.299, 0.587, 0.114)

# Avoids the infinite derivative of sqrt at 0; subtracted again so that a flat image maps to exactly 0.
_EPS = 1e-12


# (outer weight, centre weight) of the smoothing across the derivative, and the largest response.
_GRADIENT_OPERATORS = {
    'sobel': ((1., 2.), 4. * math.sqrt(2.)),
    'scharr': ((3., 10.), 16. * math.sqrt(2.)),
}


def _gradient_squared(y, outer, centre):
    """gx^2 + gy^2 of a padded luma [N, 1, H+2, W+2], built from differences first so that a flat
    region gives exactly 0 (a 3x3 convolution leaves rounding residue there)."""
    dx = y[..., :, 2:] - y[..., :, :-2]
    gx = outer * (dx[..., :-2, :] + dx[..., 2:, :]) + centre * dx[..., 1:-1, :]
    dy = y[..., 2:, :] - y[..., :-2, :]
    gy = outer * (dy[..., :, :-2] + dy[..., :, 2:]) + centre * dy[..., :, 1:-1]
    return gx.square() + gy.square()


def _laplacian_squared(y):
    c = y[..., 1:-1, 1:-1]
    lap = (y[..., :-2, 1:-1] - c) + (y[..., 2:, 1:-1] - c) + (y[..., 1:-1, :-2] - c) + (y[..., 1:-1, 2:] - c)
    return lap.square()


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
    if operator not in EDGE_OPERATORS:
        raise ValueError(f'edge_map: operator must be one of {EDGE_OPERATORS}, got {operator!r}')
    dtype = x.dtype
    if dtype in (torch.float16, torch.bfloat16):
        # in float32: fp16 loses the 1e-12 guard (it underflows to 0) and bf16 the small gradients
        x = x.float()
    y = F.pad(luma(x), (1, 1, 1, 1), mode='replicate')
    if operator == 'laplacian':
        squared, norm = _laplacian_squared(y), 4.
    else:
        (outer, centre), norm = _GRADIENT_OPERATORS[operator]
        squared = _gradient_squared(y, outer, centre)
    eps = torch.tensor(_EPS, dtype=x.dtype, device=x.device)
    magnitude = (torch.sqrt(squared + eps) - torch.sqrt(eps)) / norm
    if magnitude.dtype != dtype:
        magnitude = magnitude.to(dtype)
    return magnitude[0] if single else magnitude


def encode_edge_png(edge):
    """The 16-bit image (H x W ``uint16``) that stores an edge map.

    Args:
        edge (Tensor | ndarray): [1, H, W] or [H, W] values in [0, 1] (what :func:`edge_map` returns for
            one image); values outside are clipped.
    """
    values = edge.detach().cpu().numpy() if torch.is_tensor(edge) else np.asarray(edge)
    values = values.reshape(values.shape[-2:]).astype(np.float64)
    return np.clip(np.floor(values * EDGE_PNG_MAX + 0.5), 0, EDGE_PNG_MAX).astype(np.uint16)


def check_edge_png(image, name='edge map'):
    """Raise ValueError (naming ``name``) unless ``image`` is a decoded one-channel 16-bit edge map."""
    if image.ndim != 2 or image.dtype != np.uint16:
        raise ValueError(f'{name}: an edge map must be a one-channel 16-bit PNG (aidn prepare edges), '
                         f'got shape {image.shape} of {image.dtype}')


def decode_edge_png(image, name='edge map'):
    """The edge map ([1, H, W] float32 tensor in [0, 1]) stored in a decoded 16-bit image.

    Args:
        image (ndarray): H x W ``uint16``, as the PNG decodes with its depth and channel count kept.
        name (str): the file or key, for the error message.

    Raises:
        ValueError: ``image`` is not one channel of 16 bits.
    """
    check_edge_png(image, name)
    return torch.from_numpy(image.astype(np.float32) / np.float32(EDGE_PNG_MAX))[None]
