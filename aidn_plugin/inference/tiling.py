"""Tiled upscaling: any image size with memory bounded by the tile size, not the image size.

The LR image is cut into a grid of *cores* that cover it without overlap. Each core is run through the
network together with up to ``overlap`` LR pixels of context on every side (clipped at the image border),
so one network input is at most ``tile`` x ``tile`` LR pixels. Only the core's part of the output is kept
and pasted into place ("crop and paste"): the context absorbs the border effects of the convolutions, the
edge operator's padding and the bicubic base. Block attention pools statistics over its whole input, so
a tiled result is not bit-identical to an untiled one; with the defaults it stays above 50 dB Y-PSNR
(tests/test_upscale.py checks it). When one tile covers the image the network runs once on the whole
image and the result is identical to an untiled run.

The output comes out one row of tiles at a time (:func:`upscale_rows`), top to bottom, so a writer can
encode it as it comes (PNG and TIFF: ``aidn_plugin.utils.image_files.write_strips``). The input stays in
its integer form and each tile is converted to float on its own. Peak memory = the network's activations
for one tile (fixed by ``tile``) + the decoded input + one strip of output rows in the image's own dtype
(height: the tallest row of tiles' cores, times the scale; width: the output's); no full-size float image
and, when streamed, no full-size output is ever held. :func:`upscale_image` assembles the strips into one
array.
"""
import numpy as np
import torch

from aidn_plugin.utils import image_io
from aidn_plugin.inference.tile_plan import (DEFAULT_OVERLAP, DEFAULT_TILE, check_tiling, tile_count,  # noqa: F401
                                            tile_windows)

# BT.601 luma: a grey image run through an RGB network is returned grey with these weights.
_LUMA = (0.299, 0.587, 0.114)


def _core(model, patch, scale, row, col):
    """The float32 CPU output of the core of one network input ``patch`` (cut at window ``row`` x ``col``)."""
    param = next(model.parameters())
    (y0, _, cy0, cy1), (x0, _, cx0, cx1) = row, col
    # no_grad only around the network call (a generator must not leave it on in its consumer), and not
    # inference_mode: the caller quantises the returned tensor in place
    with torch.no_grad():
        out = model(patch.to(device=param.device, dtype=param.dtype).contiguous())
        core = out[:, :, (cy0 - y0) * scale:(cy1 - y0) * scale, (cx0 - x0) * scale:(cx1 - x0) * scale]
        return core.float().cpu()


def iter_tiles(model, lr, tile=DEFAULT_TILE, overlap=DEFAULT_OVERLAP):
    """Run ``model`` tile by tile.

    Args:
        model (nn.Module): a super-resolution network with an ``upscale`` attribute, in eval mode; its
            parameters' device and dtype are used for every tile (fp16 on CUDA with ``model.half()``).
        lr (Tensor): [1, C, H, W] float LR image in [0, 1]; it may stay on the CPU while the model is on
            a GPU (tiles are moved one at a time).
        tile (int): largest LR tile side; 0 = one pass over the whole image.
        overlap (int): context LR pixels around each core.

    Yields:
        tuple: (top, left, out) with ``out`` the [1, C, h * s, w * s] float32 CPU output of one core and
        (top, left) its position in the output.
    """
    scale = model.upscale
    cols = tile_windows(lr.shape[3], tile, overlap)
    for row in tile_windows(lr.shape[2], tile, overlap):
        for col in cols:
            patch = lr[:, :, row[0]:row[1], col[0]:col[1]]
            yield row[2] * scale, col[2] * scale, _core(model, patch, scale, row, col)


def upscale_rows(model, image, tile=DEFAULT_TILE, overlap=DEFAULT_OVERLAP, progress=None):
    """Upscale an image array as OpenCV reads it, keeping its layout and bit depth, one strip at a time.

    Args:
        model (nn.Module): AIDN (or any network with ``upscale`` and ``num_in_ch`` attributes), eval mode.
        image (np.ndarray): uint8 or uint16; [H, W] grey, [H, W, 3] BGR or [H, W, 4] BGRA.
        tile (int): largest LR tile side (0 = no tiling). Default 192.
        overlap (int): context LR pixels around each tile's core. Default 16.
        progress (callable | None): called once per finished tile (e.g. ``tqdm.update``).

    Yields:
        tuple: (top, rows): the output rows from ``top`` on, full width, in the image's dtype and channel
        layout, one strip per row of tiles, top to bottom. Grey through an RGB network comes back grey
        (BT.601 luma of the output); alpha is upscaled on its own with bicubic.

    Raises:
        ValueError: bad tile settings, colour into a grey network; ``image_io.ImageError`` (a ValueError)
            for an unsupported sample type or layout (both before the first strip).
    """
    # the project's one set of pixel rules (sample types, grey / BGR / BGRA layouts)
    colour, alpha = image_io.split_alpha(image)
    peak = image_io.max_value(image)
    check_tiling(tile, overlap)
    grey = colour.ndim == 2
    in_ch = getattr(model, 'num_in_ch', 3)
    if not grey and in_ch == 1:
        raise ValueError('the model takes grey images (num_in_ch=1); this image has colour')
    return _rows(model, colour, alpha, peak, tile, overlap, progress, image.ndim == 2)


def _rows(model, colour, alpha, peak, tile, overlap, progress, flat):
    # a view of the integer image as [1, C, H, W]: no float copy of the whole input (torch takes no
    # negative strides: a flipped array is copied)
    if any(stride < 0 for stride in colour.strides):
        colour = np.ascontiguousarray(colour)
    source = torch.from_numpy(colour)
    grey = colour.ndim == 2
    source = source[None, None] if grey else source.permute(2, 0, 1)[None]
    to_rgb = [2, 1, 0]  # OpenCV is BGR; the network was trained on RGB
    to_network = 3 if grey and getattr(model, 'num_in_ch', 3) == 3 else None
    scale = model.upscale
    height, width = colour.shape[:2]
    channels = 1 if grey else 3 + (alpha is not None)
    luma = torch.tensor(_LUMA).view(1, 3, 1, 1)
    cols = tile_windows(width, tile, overlap)
    for row in tile_windows(height, tile, overlap):
        strip = np.empty(((row[3] - row[2]) * scale, width * scale, channels), dtype=colour.dtype)
        for col in cols:
            patch = source[:, :, row[0]:row[1], col[0]:col[1]]
            patch = (patch if grey else patch[:, to_rgb]).float().div_(peak)
            if to_network:
                patch = patch.expand(1, to_network, *patch.shape[2:])
            out = _core(model, patch, scale, row, col)
            if grey and out.shape[1] == 3:
                out = (out * luma).sum(dim=1, keepdim=True)
            pixels = out[0].clamp_(0, 1).mul_(peak).round_().permute(1, 2, 0).numpy()
            if not grey:
                pixels = pixels[:, :, ::-1]  # back to BGR
            left = col[2] * scale
            strip[:, left:left + pixels.shape[1], :pixels.shape[2]] = pixels
            if progress is not None:
                progress()
        if alpha is not None:
            strip[:, :, 3] = _alpha_rows(alpha, row[2], row[3], scale)
        yield row[2] * scale, strip[:, :, 0] if flat else strip


def _alpha_rows(alpha, start, end, scale):
    """Output rows ``start * scale`` to ``end * scale`` of the bicubic upscale of the whole alpha plane.

    Bicubic reads two rows on either side of each output row's source position, and the resize clamps at
    the image border; resizing rows ``start - 3 .. end + 3`` (clipped at the border) therefore gives exactly
    the whole plane's rows (tests/test_upscale.py compares)."""
    import cv2
    first, last = max(0, start - 3), min(alpha.shape[0], end + 3)
    # The network knows nothing of alpha; bicubic keeps its edges smooth (cv2 saturates the overshoot).
    rows = cv2.resize(alpha[first:last], (alpha.shape[1] * scale, (last - first) * scale),
                      interpolation=cv2.INTER_CUBIC)
    return rows[(start - first) * scale:(end - first) * scale]


def upscale_image(model, image, tile=DEFAULT_TILE, overlap=DEFAULT_OVERLAP, progress=None):
    """Upscale an image array as OpenCV reads it, keeping its layout and bit depth: :func:`upscale_rows`
    assembled into one array.

    Args:
        model (nn.Module): AIDN (or any network with ``upscale`` and ``num_in_ch`` attributes), eval mode.
        image (np.ndarray): uint8 or uint16; [H, W] grey, [H, W, 3] BGR or [H, W, 4] BGRA.
        tile (int): largest LR tile side (0 = no tiling). Default 192.
        overlap (int): context LR pixels around each tile's core. Default 16.
        progress (callable | None): called once per finished tile (e.g. ``tqdm.update``).

    Returns:
        np.ndarray: same dtype and channel layout, ``upscale`` times larger. Grey through an RGB network
        comes back grey (BT.601 luma of the output); alpha is upscaled on its own with bicubic.

    Raises:
        ValueError: bad tile settings, colour into a grey network; ``image_io.ImageError`` (a ValueError)
            for an unsupported sample type or layout.
    """
    strips = upscale_rows(model, image, tile, overlap, progress)
    scale = model.upscale
    result = np.empty((image.shape[0] * scale, image.shape[1] * scale) + image.shape[2:], dtype=image.dtype)
    for top, rows in strips:
        result[top:top + rows.shape[0]] = rows
    return result
