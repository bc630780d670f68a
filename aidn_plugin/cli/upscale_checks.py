"""What ``aidn upscale`` checks for each input before any work, so that a bad input costs one line and
no time, and nothing is half-written:

* the header (read without decoding, ``utils.image_header``): a declared size within the decoder's limits
  (``OPENCV_IO_MAX_IMAGE_PIXELS`` and friends), and one frame: an animated GIF / APNG / WebP or a
  multi-page TIFF is refused, since only its first frame would be upscaled;
* the output format can hold the result (``image_files.check_encodable``: 16 bits, JPEG / WebP sides);
* memory (:func:`check_memory`): what the image holds while it is upscaled (``tile_plan.held_bytes``: the
  decoded input, and a few strips of rows for PNG / TIFF, which are streamed, or the whole output for the
  other formats) must fit in ``--max-memory``, by default the memory available when the command starts.

Each check raises ``ValueError`` (``ImageError`` is one) whose one-line message names the file.
"""
import os

from aidn_plugin.utils import image_header, image_files
from aidn_plugin.utils.memory import format_bytes

_SEQUENCE_KINDS = {'GIF': 'animated GIF', 'PNG': 'animated PNG', 'WEBP': 'animated WebP',
                   'TIFF': 'multi-page TIFF'}


def check_input(source):
    """The header of ``source`` (``None`` where Pillow does not know the format; the decoder decides then),
    refused past the decoder's limits or with more than one frame."""
    header = image_header.checked_header(source)
    if header is not None and header.frames > 1:
        kind = _SEQUENCE_KINDS.get(header.format, f'{header.format} with several frames')
        name = os.path.basename(source)
        raise image_header.ImageError(
            f'{source}: {header.frames} frames ({kind}); aidn upscale takes still images and would keep only '
            f'the first: split it into frames (e.g. ffmpeg -i {name} frame_%04d.png) and upscale those')
    return header


def check_output(target, header, scale):
    """Refuse, naming ``target``, an output its format cannot hold (see ``image_files.check_encodable``)."""
    if header is not None:
        image_files.check_encodable(target, header.width * scale, header.height * scale, header.sample_bytes)


def check_memory(source, target, header, scale, tile, overlap, limit, flag_text):
    """Raise ValueError when upscaling ``header``'s image to ``target`` would hold more than ``limit`` bytes.

    Args:
        source (str), target (str): the input and output files.
        header (image_header.Header | None): the input's header; ``None`` skips the check.
        scale (int): the model's upscale factor.
        tile (int), overlap (int): the tiling.
        limit (int | None): bytes allowed; ``None`` (unknown) skips the check.
        flag_text (str): how the message names the limit, e.g. ``--max-memory 2.0 GiB``.
    """
    from aidn_plugin.inference.tile_plan import held_bytes
    if header is None or limit is None:
        return
    streamed = os.path.splitext(target)[1].lower() in image_files.STREAMED_EXTENSIONS
    needed = held_bytes(header.height, header.width, header.channels, header.sample_bytes, scale, tile, overlap,
                        streamed)
    if needed <= limit:
        return
    size = f'{header.width * scale}x{header.height * scale}'
    if streamed:
        advice = 'lower --tile (fewer rows are held at a time) or raise --max-memory'
    else:
        ext = os.path.splitext(target)[1].lower()
        advice = (f'{ext} is encoded from the whole image; write .png or .tif (--ext png), which are written '
                  'row by row, or raise --max-memory')
    raise ValueError(f'{source}: upscaling to {size} would hold about {format_bytes(needed)}, more than '
                     f'{flag_text}; {advice}')


__all__ = ['check_input', 'check_memory', 'check_output']
