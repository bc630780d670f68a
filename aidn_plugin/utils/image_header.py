"""What an image file declares about itself, read from its header without decoding a pixel, and whether
the project's decoder (OpenCV) will accept it.

A PNG of a few kilobytes can declare 60000 x 60000 pixels; OpenCV stops such a file with an assertion
(``validateInputImageSize``), and a genuine large image is decoded whole before anything says how much it
will cost. The commands therefore read every input's header first (Pillow's lazy ``Image.open`` parses the
header and stops there) and refuse, in one line naming the file, what the decoder would refuse:

* more than ``OPENCV_IO_MAX_IMAGE_PIXELS`` pixels (OpenCV's default 2^30, about 1.07 gigapixels);
* a side longer than ``OPENCV_IO_MAX_IMAGE_WIDTH`` / ``OPENCV_IO_MAX_IMAGE_HEIGHT`` (default 2^20).

The three environment variables are OpenCV's own: raising them raises both OpenCV's limit and this check.
A file Pillow does not recognise gets no header (``None``): the decoder then says why it cannot read it.
"""
import os
import struct
import warnings
from dataclasses import dataclass

from aidn_plugin.utils.image_io import ImageError

# OpenCV's defaults (modules/imgcodecs/src/loadsave.cpp), and the environment variables that change them
DECODER_LIMITS = (('OPENCV_IO_MAX_IMAGE_WIDTH', 1 << 20), ('OPENCV_IO_MAX_IMAGE_HEIGHT', 1 << 20),
                  ('OPENCV_IO_MAX_IMAGE_PIXELS', 1 << 30))
# formats whose extra frames are a sequence to show, not a thumbnail or preview next to one main image
_SEQUENCE_FORMATS = ('GIF', 'PNG', 'TIFF', 'WEBP')
_GREY_MODES = ('1', 'L', 'I', 'F', 'I;16', 'I;16B', 'I;16L', 'I;16N')


@dataclass(frozen=True)
class Header:
    """A file's declared image.

    Attributes:
        format (str): Pillow's name of the format (``PNG``, ``JPEG``, ``GIF``, ``TIFF``...).
        width (int), height (int): the declared size in pixels.
        channels (int): what the decoder returns as stored: 1 (grey), 3 (colour) or 4 (with alpha).
        sample_bytes (int): 1 (8 bits per sample) or 2 (16 bits).
        frames (int): frames (animated GIF, APNG, animated WebP) or pages (TIFF); 1 for a still image.
    """
    format: str
    width: int
    height: int
    channels: int
    sample_bytes: int
    frames: int

    @property
    def pixels(self):
        return self.width * self.height

    def decoded_bytes(self):
        """Bytes of the decoded image as the decoder returns it."""
        return self.pixels * self.channels * self.sample_bytes


def decoder_limits():
    """(max width, max height, max pixels) the decoder accepts, from OpenCV's environment variables."""
    values = []
    for name, default in DECODER_LIMITS:
        try:
            values.append(int(os.environ.get(name, default)))
        except ValueError:
            values.append(default)
    return tuple(values)


def read_header(path):
    """The :class:`Header` of the image file ``path``, or ``None`` when Pillow does not recognise it.

    Raises:
        ImageError: the file cannot be opened (missing, a folder, no permission).
    """
    from PIL import Image, UnidentifiedImageError
    limit = Image.MAX_IMAGE_PIXELS
    try:
        # Pillow's own decompression-bomb guard would refuse the file before its size is known; the size is
        # what is wanted here, and nothing is decoded, so the guard is off while the header is read.
        Image.MAX_IMAGE_PIXELS = None
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # Pillow's remarks on odd but readable headers
            image = Image.open(path)
        with image:
            frames = getattr(image, 'n_frames', 1) if image.format in _SEQUENCE_FORMATS else 1
            return Header(image.format, image.width, image.height, _channels(image), _sample_bytes(image), frames)
    except (UnidentifiedImageError, SyntaxError, ValueError, EOFError, struct.error):
        return None
    except OSError as error:
        if os.path.isfile(path) and os.access(path, os.R_OK):
            return None  # a damaged file Pillow gives up on: the decoder names the problem
        raise ImageError(f'{path}: cannot read ({error.strerror or error})') from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _channels(image):
    if 'A' in image.mode or 'transparency' in image.info:
        return 4
    return 1 if image.mode in _GREY_MODES else 3


def _sample_bytes(image):
    bits = getattr(image, 'tag_v2', {}).get(258) if image.format == 'TIFF' else None
    if bits:
        return 2 if max(bits if isinstance(bits, tuple) else (bits, )) > 8 else 1
    raw = repr(image.tile[0].args) if image.tile else ''
    return 2 if image.mode.startswith('I;16') or ';16' in raw else 1


def check_decodable(path, header):
    """Raise :class:`ImageError`, naming ``path``, its declared size and the limit, when the decoder would
    refuse ``header`` (see the module docstring); ``None`` (no header) passes."""
    if header is None:
        return
    max_width, max_height, max_pixels = decoder_limits()
    size = f'{header.width}x{header.height}'
    if header.width > max_width or header.height > max_height:
        raise ImageError(f'{path}: declares {size} pixels, beyond the decoder\'s limit of {max_width} pixels '
                         f'wide and {max_height} high (OPENCV_IO_MAX_IMAGE_WIDTH / _HEIGHT)')
    if header.pixels > max_pixels:
        raise ImageError(f'{path}: declares {size} pixels ({header.pixels:,}), beyond the decoder\'s limit of '
                         f'{max_pixels:,} pixels (OPENCV_IO_MAX_IMAGE_PIXELS)')


def checked_header(path):
    """:func:`read_header` then :func:`check_decodable`; returns the header (or ``None``)."""
    header = read_header(path)
    check_decodable(path, header)
    return header


__all__ = ['DECODER_LIMITS', 'Header', 'check_decodable', 'checked_header', 'decoder_limits', 'read_header']
