"""MATLAB-style bicubic downscaling, the field's way of making LR images (docs/data.md).

What MATLAB's ``imresize(img, 1/scale, 'bicubic')`` does on an integer image, and so what the LR images
shipped with the benchmark sets are:

* the antialiased cubic kernel (a = -0.5, widened by the scale), as in MATLAB's ``contributions`` and
  BasicSR's ``basicsr.utils.matlab_functions.calculate_weights_indices``;
* out-of-range taps **clamped to the edge pixel** (MATLAB: "replicating end-points"). BasicSR's own
  ``imresize`` mirrors the border instead, which changes the two outermost LR rows and columns;
* one dimension at a time, rows first, and the result of each pass **rounded (half up) and saturated to
  the input's integer type**, as MATLAB's resize returns the class of its input. BasicSR's ``imresize``
  keeps the intermediate in float, which moves about 1 pixel value in 100 by one level.

With both, the LR of Set5, Set14 and B100 (x2, x3, x4) is reproduced bit for bit from their HR
(``python -m scripts.bench.bicubic --check-sets``); BasicSR's ``imresize`` + final rounding agrees on about 87 % of the values.
8-bit input gives 8-bit output and 16-bit input 16-bit output.
"""
import numpy as np

from aidn_plugin.utils.image_io import max_value


def mod_crop(img, scale):
    """Crop the bottom/right rows and columns so that height and width are multiples of ``scale``."""
    h, w = img.shape[:2]
    return img[:h - h % scale, :w - w % scale, ...]


def _cubic(x):
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _taps(in_length, scale):
    """Weights [out, k] (float64) and clamped source indices [out, k] for a downscale by ``scale``.

    MATLAB's ``contributions`` for a factor 1/scale with antialiasing. Every input coordinate is a
    half-integer computed exactly, so every output pixel of a period gets bit-identical weights: the
    LR of a window of the HR equals the same window of the LR of the whole image (the dataset relies
    on it when it makes LR on the fly from a crop with a margin).
    """
    out_length = in_length // scale
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x * scale + 0.5 * (1 - scale)  # output pixel centre in 1-based input coordinates
    kernel_width = 4. * scale  # the cubic kernel (width 4) stretched by the scale: antialiasing
    left = np.floor(u - kernel_width / 2)
    indices = left[:, None] + np.arange(int(np.ceil(kernel_width)) + 2)[None, :]
    weights = _cubic((u[:, None] - indices) / scale)
    weights = weights / weights.sum(axis=1, keepdims=True)
    keep = np.any(weights != 0, axis=0)  # MATLAB drops all-zero columns
    # Out-of-range taps are clamped (MATLAB: "replicating end-points"); 0-based from here.
    indices = np.clip(indices, 1, in_length).astype(np.int64) - 1
    return weights[:, keep], indices[:, keep]


def _resize_axis(img, axis, scale, top):
    weights, source = _taps(img.shape[axis], scale)
    moved = np.moveaxis(img, axis, 0).astype(np.float64)
    shape = (weights.shape[0], ) + (1, ) * (moved.ndim - 1)
    out = np.zeros((weights.shape[0], ) + moved.shape[1:], dtype=np.float64)
    # A fixed summation order per output value, whatever the image size (see _taps).
    for k in range(weights.shape[1]):
        out += weights[:, k].reshape(shape) * moved[source[:, k]]
    out = np.clip(np.floor(out + 0.5), 0, top)  # MATLAB: round half up, saturate to the integer type
    return np.moveaxis(out, 0, axis)


def bicubic_downscale(img, scale):
    """Downscale an integer image by an integer factor, as MATLAB ``imresize(img, 1/scale)`` does.

    Args:
        img (ndarray): H x W or H x W x C, ``uint8`` or ``uint16``; H and W multiples of ``scale``
            (use :func:`mod_crop` first).
        scale (int): integer factor >= 1.

    Returns:
        ndarray: (H/scale) x (W/scale) [x C], same dtype as ``img``.
    """
    top = max_value(img)
    if isinstance(scale, bool) or int(scale) != scale or scale < 1:
        raise ValueError(f'scale must be a positive integer, got {scale!r}')
    scale = int(scale)
    h, w = img.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f'image size {w}x{h} is not a multiple of the scale {scale}; mod-crop it first')
    if h == 0 or w == 0:
        raise ValueError(f'empty image ({w}x{h})')
    if scale == 1:
        return img.copy()
    out = _resize_axis(img, 0, scale, top)
    out = _resize_axis(out, 1, scale, top)
    return out.astype(img.dtype)


__all__ = ['bicubic_downscale', 'mod_crop']
