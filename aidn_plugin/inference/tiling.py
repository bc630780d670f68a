"""Tiled upscaling: any image size with memory bounded by the tile size, not the image size.

The LR image is cut into a grid of *cores* that cover it without overlap. Each core is run through the
network together with up to ``overlap`` LR pixels of context on every side (clipped at the image border),
so one network input is at most ``tile`` x ``tile`` LR pixels. Only the core's part of the output is kept
and pasted into place ("crop and paste"): the context absorbs the border effects of the convolutions, the
edge operator's padding and the bicubic base. Block attention pools statistics over its whole input, so
a tiled result is not bit-identical to an untiled one; with the defaults it stays above 50 dB Y-PSNR
(tests/test_upscale.py checks it). When one tile covers the image the network runs once on the whole
image and the result is identical to an untiled run.

Peak memory = the network's activations for one tile (fixed by ``tile``) + the LR input as float32 + the
output in the image's own dtype (uint8 / uint16); no full-size float output is ever held.
"""
import numpy as np
import torch

from aidn_plugin.utils import image_io
from aidn_plugin.inference.tile_plan import (DEFAULT_OVERLAP, DEFAULT_TILE, check_tiling, tile_count,  # noqa: F401
                                            tile_windows)

# BT.601 luma: a grey image run through an RGB network is returned grey with these weights.
_LUMA = (0.299, 0.587, 0.114)


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
    param = next(model.parameters())
    rows = tile_windows(lr.shape[2], tile, overlap)
    cols = tile_windows(lr.shape[3], tile, overlap)
    with torch.inference_mode():
        for y0, y1, cy0, cy1 in rows:
            for x0, x1, cx0, cx1 in cols:
                patch = lr[:, :, y0:y1, x0:x1].to(device=param.device, dtype=param.dtype).contiguous()
                out = model(patch)
                core = out[:, :, (cy0 - y0) * scale:(cy1 - y0) * scale, (cx0 - x0) * scale:(cx1 - x0) * scale]
                yield cy0 * scale, cx0 * scale, core.float().cpu()


def upscale_image(model, image, tile=DEFAULT_TILE, overlap=DEFAULT_OVERLAP, progress=None):
    """Upscale an image array as OpenCV reads it, keeping its layout and bit depth.

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
    # the project's one set of pixel rules (sample types, grey / BGR / BGRA layouts)
    colour, alpha = image_io.split_alpha(image)
    peak = image_io.max_value(image)
    check_tiling(tile, overlap)
    grey = colour.ndim == 2
    in_ch = getattr(model, 'num_in_ch', 3)
    if not grey and in_ch == 1:
        raise ValueError('the model takes grey images (num_in_ch=1); this image has colour')

    if grey:
        lr = torch.from_numpy(np.ascontiguousarray(colour))[None, None].float().div_(peak)
        if in_ch == 3:
            lr = lr.expand(1, 3, *lr.shape[2:])
    else:
        rgb = np.ascontiguousarray(colour[:, :, ::-1])  # OpenCV is BGR; the network was trained on RGB
        lr = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div_(peak)

    scale = model.upscale
    height, width = colour.shape[:2]
    channels = image.shape[2] if image.ndim == 3 else 1
    result = np.empty((height * scale, width * scale, channels), dtype=image.dtype)
    luma = torch.tensor(_LUMA).view(1, 3, 1, 1)
    for top, left, out in iter_tiles(model, lr, tile, overlap):
        if grey and out.shape[1] == 3:
            out = (out * luma).sum(dim=1, keepdim=True)
        pixels = out[0].clamp_(0, 1).mul_(peak).round_().permute(1, 2, 0).numpy()
        if not grey:
            pixels = pixels[:, :, ::-1]  # back to BGR
        result[top:top + pixels.shape[0], left:left + pixels.shape[1], :pixels.shape[2]] = pixels
        if progress is not None:
            progress()
    if alpha is not None:
        import cv2
        # The network knows nothing of alpha; bicubic keeps its edges smooth (cv2 saturates the overshoot).
        result[:, :, 3] = cv2.resize(alpha, (width * scale, height * scale), interpolation=cv2.INTER_CUBIC)
    return result[:, :, 0] if image.ndim == 2 else result
