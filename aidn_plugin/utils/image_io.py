"""Reading and writing images the one way the whole project does it (OpenCV, BGR channel order).

Conversion rules for training and evaluation (``decode``; the dataset and ``aidn prepare lr`` use them):

* colour images come back as H x W x 3 **BGR**, the channel order BasicSR works in;
* grey (1 channel) sources are replicated to 3 identical channels;
* an alpha channel (RGBA, grey + alpha) is dropped, the colour values are kept as stored (no compositing
  on a background), as BasicSR's own reader (``cv2.IMREAD_COLOR``) does;
* 8-bit images stay ``uint8``; 16-bit images stay ``uint16`` (BasicSR's reader would cut them to 8 bits):
  :func:`to_float` divides by 255 or 65535 respectively, so both map exactly onto [0, 1];
* the EXIF orientation of a JPEG is applied, as ``cv2.IMREAD_COLOR`` does.

``decode_stored`` (used by ``aidn prepare subimages`` and ``aidn prepare lmdb``) keeps grey images one
channel and 16-bit images 16 bits, so what they write decodes, through ``decode``, to the same pixels as
the source. Every error is an :class:`ImageError` whose one-line message names the file or key.
"""
import os

import cv2
import numpy as np

from aidn_plugin.utils.atomic import write_bytes

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')

# Colour (grey replicated, alpha dropped), depth kept, EXIF orientation applied.
_TRAIN_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH
# Channel count (grey stays grey; alpha dropped) and depth kept, EXIF orientation applied.
_STORE_FLAGS = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH

_MAX_VALUE = {np.dtype(np.uint8): 255., np.dtype(np.uint16): 65535.}


class ImageError(ValueError):
    """An image that cannot be used; the message names the file (or LMDB key) and the reason."""


def _check_complete(content, name):
    """OpenCV 4 decodes a truncated JPEG into an image padded with grey (only a warning); refuse a JPEG
    whose last scan has no end-of-image marker after it. Inside scan data every 0xFF byte is stuffed, so
    0xFFD9 there can only be the end marker; data appended after it (some cameras do) is allowed."""
    if content[:2] != b'\xff\xd8':
        return
    last_scan = content.rfind(b'\xff\xda')
    if last_scan < 0 or content.find(b'\xff\xd9', last_scan) < 0:
        raise ImageError(f'{name}: truncated JPEG (no end-of-image marker after the last scan)')


def _decode(content, name, flags):
    if content is None:
        raise ImageError(f'{name}: no data')
    content = bytes(content) if not isinstance(content, bytes) else content
    if len(content) == 0:
        raise ImageError(f'{name}: empty file')
    _check_complete(content, name)
    try:
        img = cv2.imdecode(np.frombuffer(content, np.uint8), flags)
    except cv2.error as error:  # e.g. a declared size past OpenCV's limits (image_header checks those first)
        reason = ' '.join(str(error).split()).split('error: ', 1)[-1]
        raise ImageError(f'{name}: the decoder refused it ({reason})') from None
    if img is None:
        raise ImageError(f'{name}: not a readable image (corrupt, truncated or of an unknown format)')
    if img.dtype not in _MAX_VALUE:
        raise ImageError(f'{name}: unsupported sample type {img.dtype} (expected 8 or 16 bits per channel)')
    return img


def decode(content, name):
    """Decode image bytes for training: H x W x 3 BGR, ``uint8`` or ``uint16`` (rules in the module doc)."""
    img = _decode(content, name, _TRAIN_FLAGS)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ImageError(f'{name}: decoded to shape {img.shape}, expected H x W x 3')
    return img


def decode_stored(content, name):
    """Decode image bytes for storage: H x W (grey) or H x W x 3 (BGR), ``uint8`` or ``uint16``."""
    return _decode(content, name, _STORE_FLAGS)


def read_bytes(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except OSError as error:
        raise ImageError(f'{path}: cannot read ({error.strerror})') from None


def read(path):
    """Read an image file for training (see :func:`decode`)."""
    return decode(read_bytes(path), path)


def read_stored(path):
    """Read an image file as it is stored (see :func:`decode_stored`)."""
    return decode_stored(read_bytes(path), path)


def max_value(img):
    """255 for ``uint8``, 65535 for ``uint16``."""
    try:
        return _MAX_VALUE[img.dtype]
    except KeyError:
        raise ImageError(f'unsupported sample type {img.dtype} (expected uint8 or uint16)') from None


def split_alpha(img):
    """(colour, alpha) of an image as stored: [H, W] grey or [H, W, 3] BGR, and the [H, W] alpha channel of a
    BGRA image (None without one). Raises :class:`ImageError` for any other layout or sample type."""
    max_value(img)
    if img.ndim == 2:
        return img, None
    if img.ndim == 3 and img.shape[2] in (3, 4):
        return img[:, :, :3], (img[:, :, 3] if img.shape[2] == 4 else None)
    raise ImageError(f'expected a grey, BGR or BGRA image, got shape {img.shape}')


def to_float(img):
    """Integer image to float32 in [0, 1]: divides by 255 (8 bit) or 65535 (16 bit)."""
    return img.astype(np.float32) / np.float32(max_value(img))


def encode_png(img, compress_level=3):
    """PNG bytes of an 8/16-bit grey or BGR image."""
    ok, buffer = cv2.imencode('.png', img, [cv2.IMWRITE_PNG_COMPRESSION, int(compress_level)])
    if not ok:
        raise ImageError(f'cannot encode an image of shape {img.shape} and type {img.dtype} as PNG')
    return buffer.tobytes()


def write_png(path, img, compress_level=3):
    """Write a PNG atomically: a temporary file in the same folder, then ``os.replace``."""
    write_bytes(path, encode_png(img, compress_level))


def list_images(folder, extensions=IMAGE_EXTENSIONS):
    """Sorted names (relative to ``folder``, no sub-folders) of the files in ``folder`` whose extension is
    one of ``extensions`` (default: :data:`IMAGE_EXTENSIONS`)."""
    if not os.path.isdir(folder):
        raise ImageError(f'{folder}: not a folder')
    names = sorted(name for name in os.listdir(folder)
                   if name.lower().endswith(tuple(extensions)) and not name.startswith('.')
                   and os.path.isfile(os.path.join(folder, name)))
    return names


__all__ = ['IMAGE_EXTENSIONS', 'ImageError', 'decode', 'decode_stored', 'encode_png', 'list_images',
           'max_value', 'read', 'read_bytes', 'read_stored', 'split_alpha', 'to_float', 'write_bytes', 'write_png']
