"""Image files for ``aidn upscale``: finding inputs, reading them as they are, writing atomically.

Built on :mod:`aidn_plugin.utils.image_io` (the project's one reader/writer) with upscaling's own rule: an
image comes back as stored, so grey stays one channel, an alpha channel is kept and 16-bit stays 16-bit
(``cv2.IMREAD_UNCHANGED``). JPEGs, which have no alpha, go through ``image_io.decode_stored`` instead, so
their EXIF orientation is applied and a truncated file is refused, as everywhere else in the project.
"""
import glob
import os

import numpy as np

from aidn_plugin.utils import image_io
from aidn_plugin.utils.image_io import IMAGE_EXTENSIONS

ImageFileError = image_io.ImageError
_GLOB_CHARS = set('*?[')


def is_image_name(path):
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


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
            found = [os.path.join(spec, name) for name in image_io.list_images(spec)]
            if not found:
                errors.append(f'{spec}: folder has no images ({", ".join(IMAGE_EXTENSIONS)})')
            for path in found:
                add(path)
        elif os.path.isfile(spec):
            add(spec)
        elif _GLOB_CHARS & set(spec):
            found = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p) and is_image_name(p))
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
        image = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED) if content else None
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
    if image.dtype == np.uint16 and ext in ('.jpg', '.jpeg', '.bmp', '.webp'):
        raise ImageFileError(f'{path}: {ext} cannot hold 16-bit pixels; use .png or .tif')
    try:
        ok, encoded = cv2.imencode(ext, image, params or [])
    except cv2.error:
        ok = False
    if not ok:
        raise ImageFileError(f'{path}: OpenCV cannot encode a {image.dtype} image of shape {image.shape} as {ext}')
    image_io.write_bytes(path, memoryview(encoded))  # no copy of the encoded image
