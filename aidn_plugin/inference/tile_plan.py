"""The tile plan of tiled upscaling (pure arithmetic, no torch): how an LR image is cut into network
inputs of at most ``tile`` x ``tile`` pixels, each with ``overlap`` pixels of context around its core.
``aidn_plugin.inference.tiling`` runs the network over the plan."""
import math

DEFAULT_TILE = 192
DEFAULT_OVERLAP = 16


def check_tiling(tile, overlap):
    """Raise ValueError unless ``tile`` (0 = no tiling) and ``overlap`` make a valid grid."""
    if not isinstance(tile, int) or tile < 0:
        raise ValueError(f'tile must be a whole number of LR pixels >= 0 (0 = no tiling), got {tile!r}')
    if not isinstance(overlap, int) or overlap < 0:
        raise ValueError(f'tile overlap must be a whole number of LR pixels >= 0, got {overlap!r}')
    if tile and tile <= 2 * overlap:
        raise ValueError(f'tile ({tile}) must be larger than twice the overlap ({overlap})')


def tile_windows(length, tile, overlap):
    """Split one axis of ``length`` LR pixels.

    Args:
        length (int): image height or width.
        tile (int): largest network input along this axis; 0 = no tiling.
        overlap (int): context pixels read beyond each core, on each side.

    Returns:
        list[tuple]: (in_start, in_end, core_start, core_end) per tile; the cores partition [0, length)
        into nearly equal parts and in_end - in_start <= tile.
    """
    check_tiling(tile, overlap)
    if tile == 0 or length <= tile:
        return [(0, length, 0, length)]
    count = math.ceil(length / (tile - 2 * overlap))
    bounds = [i * length // count for i in range(count + 1)]
    return [(max(0, start - overlap), min(length, end + overlap), start, end)
            for start, end in zip(bounds[:-1], bounds[1:])]


def tile_count(height, width, tile=DEFAULT_TILE, overlap=DEFAULT_OVERLAP):
    """Number of network passes for an LR image of ``height`` x ``width``."""
    return len(tile_windows(height, tile, overlap)) * len(tile_windows(width, tile, overlap))


def strip_height(height, tile=DEFAULT_TILE, overlap=DEFAULT_OVERLAP):
    """LR rows in the tallest row of tiles' cores: the output is produced ``scale`` times that many rows at a
    time (``tiling.upscale_rows``)."""
    return max(end - start for _, _, start, end in tile_windows(height, tile, overlap))


# what a streamed strip costs beyond its own rows: the channel-reordered and the filtered copy the PNG / TIFF
# writer makes, and one being pasted while the last is encoded (peak RSS measured, benchmarks/upscale_memory.md)
STRIP_COPIES = 4
# a format encoded from the whole image holds the image and its encoded bytes (at most as large, BMP / PPM)
WHOLE_COPIES = 2


def held_bytes(height, width, channels, sample_bytes, scale, tile=DEFAULT_TILE, overlap=DEFAULT_OVERLAP,
               streamed=True):
    """Bytes ``aidn upscale`` holds for one image beyond its fixed cost (interpreter, torch, the model, one
    tile's activations): the decoded input, plus either a few strips of output rows (``streamed``: PNG and
    TIFF are written as the rows of tiles finish) or the whole output and its encoding (other formats).

    Args:
        height (int), width (int): the input size in pixels.
        channels (int): 1, 3 or 4 (as decoded).
        sample_bytes (int): 1 (8-bit) or 2 (16-bit).
        scale (int): the upscale factor.
        tile (int), overlap (int): the tiling (0 = the whole image as one tile).
        streamed (bool): the output format is written row by row.
    """
    pixel = channels * sample_bytes
    if streamed:
        output = STRIP_COPIES * strip_height(height, tile, overlap) * scale * width * scale * pixel
    else:
        output = WHOLE_COPIES * height * scale * width * scale * pixel
    return height * width * pixel + output
