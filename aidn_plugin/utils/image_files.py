"""Image files for ``aidn upscale``: finding inputs, reading them as they are, writing atomically.

Built on :mod:`aidn_plugin.utils.image_io` (the project's one reader/writer) with upscaling's own rule: an
image comes back as stored, so grey stays one channel, an alpha channel is kept and 16-bit stays 16-bit
(``cv2.IMREAD_UNCHANGED``). JPEGs, which have no alpha, go through ``image_io.decode_stored`` instead, so
their EXIF orientation is applied and a truncated file is refused, as everywhere else in the project.

Inputs may also be GIFs (:data:`INPUT_EXTENSIONS`), but GIF is no output format: it holds at most 256
colours, so an upscaled GIF is written as PNG (:func:`output_extension`). Outputs are written by
:func:`write_strips` from the rows of ``aidn_plugin.inference.tiling.upscale_rows``: PNG and TIFF
(:data:`STREAMED_EXTENSIONS`) as they come, through ``png_stream`` / ``tiff_stream``, the other formats
assembled whole and encoded by OpenCV. :func:`check_encodable` refuses, before any work, what the output
format cannot hold.
"""
import glob
import os

import numpy as np

from aidn_plugin.utils import image_io
from aidn_plugin.utils.image_io import IMAGE_EXTENSIONS

ImageFileError = image_io.ImageError
_GLOB_CHARS = set('*?[')
# read, never written: GIF keeps 256 colours at most (an upscaled GIF is written as PNG)
PALETTE_EXTENSIONS = ('.gif', )
INPUT_EXTENSIONS = IMAGE_EXTENSIONS + PALETTE_EXTENSIONS
# written row by row as the tiles finish: memory does not grow with the output's height
STREAMED_EXTENSIONS = ('.png', '.tif', '.tiff')
# formats that hold 8-bit samples only, and the longest side each can encode
_EIGHT_BIT_ONLY = ('.jpg', '.jpeg', '.bmp', '.webp')
_MAX_SIDE = {'.jpg': 65535, '.jpeg': 65535, '.webp': 16383}


def is_image_name(path):
    """Whether ``path`` ends in an extension an image can be written as (:data:`IMAGE_EXTENSIONS`)."""
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def output_extension(path):
    """(extension, note) of the output for input ``path`` written in its own format: a GIF (or a name
    without an image extension) is written as ``.png``, and ``note`` says so; otherwise ``note`` is None."""
    ext = os.path.splitext(path)[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return ext, None
    if ext in PALETTE_EXTENSIONS:
        return '.png', f'written as PNG: {ext[1:].upper()} holds at most 256 colours'
    return '.png', f'written as PNG: {ext or "no extension"} is no image format to write'


def collect_inputs(specs):
    """Expand input arguments into image files.

    Args:
        specs (list[str]): files, folders (their images, not recursive, sorted) and glob patterns
            (``photos/*.png``, ``**`` recursive).

    Returns:
        tuple: (files, errors): the files in argument order without duplicates, and one message per
        argument that gave nothing (missing path, folder without images, pattern without match).
        A file named explicitly is kept whatever its extension: reading it says whether it is an image.
    """
    files, errors, seen = [], [], set()

    def add(path):
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            files.append(path)

    for spec in specs:
        if os.path.isdir(spec):
            found = [os.path.join(spec, name) for name in image_io.list_images(spec, INPUT_EXTENSIONS)]
            if not found:
                errors.append(f'{spec}: folder has no images ({", ".join(INPUT_EXTENSIONS)})')
            for path in found:
                add(path)
        elif os.path.isfile(spec):
            add(spec)
        elif _GLOB_CHARS & set(spec):
            found = sorted(p for p in glob.glob(spec, recursive=True)
                           if os.path.isfile(p) and p.lower().endswith(INPUT_EXTENSIONS))
            if not found:
                errors.append(f'{spec}: no image matches this pattern')
            for path in found:
                add(path)
        else:
            errors.append(f'{spec}: no such file or folder')
    return files, errors


def read_image(path):
    """Read an image as stored.

    Returns:
        np.ndarray: uint8 or uint16, [H, W] (grey), [H, W, 3] (BGR) or [H, W, 4] (BGRA).

    Raises:
        ImageFileError: unreadable file, not an image, or an unsupported pixel type / channel count.
    """
    import cv2
    content = image_io.read_bytes(path)
    if content[:2] == b'\xff\xd8':  # JPEG
        image = image_io.decode_stored(content, path)
    else:
        try:
            image = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED) if content else None
        except cv2.error:  # a size past the decoder's limits (the command checks the header first)
            image = None
        if image is None:
            raise ImageFileError(f'{path}: not a readable image (corrupt, truncated or not one of '
                                 f'{", ".join(IMAGE_EXTENSIONS)})')
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageFileError(f'{path}: {image.dtype} pixels are not supported (expected 8- or 16-bit)')
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ImageFileError(f'{path}: {image.shape} images are not supported (expected grey, BGR or BGRA)')
    return image


def check_encodable(path, width, height, sample_bytes):
    """Raise :class:`ImageFileError`, naming ``path``, when its format cannot hold a ``width`` x ``height``
    image of ``sample_bytes`` (1 or 2) bytes per sample: 16 bits in JPEG / BMP / WebP, a side beyond
    65535 (JPEG) or 16383 (WebP) pixels. Cheap: for checking before the work."""
    ext = os.path.splitext(path)[1].lower()
    if sample_bytes > 1 and ext in _EIGHT_BIT_ONLY:
        raise ImageFileError(f'{path}: {ext} cannot hold 16-bit pixels; use .png or .tif')
    if max(width, height) > _MAX_SIDE.get(ext, float('inf')):
        raise ImageFileError(f'{path}: {ext} holds at most {_MAX_SIDE[ext]} pixels a side, the output is '
                             f'{width}x{height}; use .png or .tif')


def write_strips(path, strips, width, height, channels, dtype):
    """Write an image that comes as strips of rows to ``path``, atomically (a temporary file in the same
    folder, renamed into place only when complete: an error or an interruption leaves no partial file).

    Args:
        path (str): output file; its extension picks the format. PNG and TIFF are encoded strip by strip
            as they come (memory: one strip); other formats are assembled whole, then encoded by OpenCV.
        strips (iterable): (top, rows) pairs, top to bottom, ``rows`` [n, W] or [n, W, C] as
            :func:`read_image` returns images (``tiling.upscale_rows`` yields them).
        width (int), height (int), channels (int), dtype: the whole image's size and layout.
    """
    from aidn_plugin.utils.atomic import staged_stream
    check_encodable(path, width, height, np.dtype(dtype).itemsize)
    ext = os.path.splitext(path)[1].lower()
    if ext not in STREAMED_EXTENSIONS:
        image = np.empty((height, width, channels), dtype)
        for top, rows in strips:
            image[top:top + rows.shape[0]] = rows.reshape(rows.shape[0], width, channels)
        write_image(path, image[:, :, 0] if channels == 1 else image)
        return
    if ext == '.png':
        from aidn_plugin.utils.png_stream import PngRowWriter as Writer
    else:
        from aidn_plugin.utils.tiff_stream import TiffRowWriter as Writer
    with staged_stream(path) as handle:
        writer = Writer(handle, width, height, channels, dtype)
        for _, rows in strips:
            writer.write(rows)
        writer.close()


def write_image(path, image, params=None):
    """Encode ``image`` by the extension of ``path`` and write it atomically (``image_io.write_bytes``: a
    temp file in the same folder, renamed into place), so an interrupted write leaves no partial image.

    Args:
        path (str): output file; its extension picks the format.
        image (np.ndarray): as returned by :func:`read_image`.
        params (list | None): OpenCV encoder parameters (e.g. ``[cv2.IMWRITE_JPEG_QUALITY, 95]``).
    """
    import cv2
    ext = os.path.splitext(path)[1].lower()
    check_encodable(path, image.shape[1], image.shape[0], image.dtype.itemsize)
    try:
        ok, encoded = cv2.imencode(ext, image, params or [])
    except cv2.error:
        ok = False
    if not ok:
        raise ImageFileError(f'{path}: OpenCV cannot encode a {image.dtype} image of shape {image.shape} as {ext}')
    image_io.write_bytes(path, memoryview(encoded))  # no copy of the encoded image
