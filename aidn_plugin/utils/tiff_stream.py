"""A TIFF written strip by strip of rows, so an image of any height is encoded without being held whole.

TIFF stores an image as independent strips of rows, found through offsets listed in the image file
directory (IFD), which may come after them. :class:`TiffRowWriter` writes the 8-byte header, compresses and
writes each strip as its rows arrive, and at ``close`` writes the IFD and points the header at it (the
file is seekable: the atomic writer's temporary file). Memory: one strip.

Strips are Deflate-compressed (compression 8, ``zlib``) after the horizontal-difference predictor (2),
which libtiff (OpenCV's TIFF codec), Pillow and every TIFF reader of note decode. Byte order little-endian.
When the data could pass 4 GiB the file is a BigTIFF (64-bit offsets), which libtiff and Pillow also read.
Pixel layouts are the project's (OpenCV's): [n, W] grey, [n, W, 3] BGR or [n, W, 4] BGRA (unassociated
alpha), ``uint8`` or ``uint16``.
"""
import struct
import zlib

import numpy as np

STRIP_BYTES = 1 << 18  # uncompressed bytes per strip (at least one row)
_SHORT, _LONG, _LONG8 = 3, 4, 16
_SIZES = {_SHORT: 2, _LONG: 4, _LONG8: 8}
_FORMS = {_SHORT: 'H', _LONG: 'I', _LONG8: 'Q'}


class TiffRowWriter:
    """Writes one TIFF to an open, seekable binary file, strip by strip, top to bottom.

    Args:
        handle: a binary file open for writing (``aidn_plugin.utils.atomic.staged_stream``).
        width (int), height (int): the image size; ``close`` checks that exactly ``height`` rows came.
        channels (int): 1 (grey), 3 (BGR) or 4 (BGRA).
        dtype: ``np.uint8`` or ``np.uint16``.
        level (int): zlib compression level 0..9. Default 1.
        big (bool | None): write a BigTIFF; default: when the uncompressed data come near 4 GiB.
    """

    def __init__(self, handle, width, height, channels, dtype, level=1, big=None):
        dtype = np.dtype(dtype)
        if channels not in (1, 3, 4) or dtype not in (np.uint8, np.uint16):
            raise ValueError(f'TIFF rows: {channels} channels of {dtype} are not supported')
        self._handle, self._width, self._height, self._channels = handle, width, height, channels
        self._dtype, self._level = dtype.newbyteorder('<'), level
        row_bytes = width * channels * dtype.itemsize
        self._rows_per_strip = max(1, min(height, STRIP_BYTES // row_bytes))
        # Deflate adds at most a few bytes per 16 KiB; a margin of 1/16 keeps 32-bit offsets safe
        self._big = row_bytes * height * 17 // 16 + (1 << 20) >= 1 << 32 if big is None else big
        self._offsets, self._counts, self._pending, self._rows = [], [], [], 0
        handle.write(b'II' + (struct.pack('<HHHQ', 43, 8, 0, 0) if self._big else struct.pack('<HI', 42, 0)))

    def write(self, rows):
        """Append ``rows`` ([n, W] or [n, W, C], the writer's channel count and dtype) below the rows so far."""
        rows = rows.reshape(rows.shape[0], self._width, -1)
        if rows.shape[2] != self._channels or self._rows + rows.shape[0] > self._height:
            raise ValueError(f'TIFF rows: got {rows.shape} after {self._rows} of {self._height} rows '
                             f'of {self._width}x{self._channels}')
        self._rows += rows.shape[0]
        self._pending.append(rows)
        pending = sum(len(r) for r in self._pending)
        while pending >= self._rows_per_strip or (pending and self._rows == self._height):
            block = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._strip(block[:self._rows_per_strip])
            self._pending = [block[self._rows_per_strip:]] if len(block) > self._rows_per_strip else []
            pending = len(block) - min(len(block), self._rows_per_strip)

    def _strip(self, rows):
        if self._channels >= 3:
            rows = rows[:, :, [2, 1, 0, 3][:self._channels]]  # BGR(A) -> RGB(A)
        samples = np.array(rows, dtype=self._dtype)  # a copy in the file's byte order
        samples[:, 1:] -= rows[:, :-1].astype(self._dtype)  # the predictor: difference to the left pixel, wrapping
        data = zlib.compress(samples.tobytes(), self._level)
        self._offsets.append(self._handle.tell())
        self._counts.append(len(data))
        self._handle.write(data)

    def close(self):
        """Write the image file directory and point the header at it; raises ValueError when rows are missing."""
        if self._rows != self._height:
            raise ValueError(f'TIFF rows: {self._rows} of {self._height} rows written')
        offset_type = _LONG8 if self._big else _LONG
        channels = self._channels
        entries = [(256, _LONG, [self._width]), (257, _LONG, [self._height]),
                   (258, _SHORT, [8 * self._dtype.itemsize] * channels), (259, _SHORT, [8]),
                   (262, _SHORT, [1 if channels == 1 else 2]), (273, offset_type, self._offsets),
                   (277, _SHORT, [channels]), (278, _LONG, [self._rows_per_strip]),
                   (279, offset_type, self._counts), (284, _SHORT, [1]), (317, _SHORT, [2])]
        if channels == 4:
            entries.append((338, _SHORT, [2]))  # the 4th sample is unassociated alpha
        self._write_directory(entries)

    def _write_directory(self, entries):
        handle = self._handle
        field = 8 if self._big else 4  # bytes of an entry's value field
        values = []
        for tag, kind, items in entries:
            data = struct.pack(f'<{len(items)}{_FORMS[kind]}', *items)
            if len(data) <= field:
                values.append(data.ljust(field, b'\0'))
            else:  # too long to stand in the entry: written before the directory, the entry points at it
                handle.write(b'\0' * (handle.tell() % 2))
                values.append(struct.pack('<Q' if self._big else '<I', handle.tell()))
                handle.write(data)
        handle.write(b'\0' * (handle.tell() % 2))
        directory = handle.tell()
        count = struct.pack('<Q' if self._big else '<H', len(entries))
        body = b''.join(struct.pack('<HHQ' if self._big else '<HHI', tag, kind, len(items)) + value
                        for (tag, kind, items), value in zip(entries, values))
        handle.write(count + body + b'\0' * field)  # the next directory: none
        handle.seek(8 if self._big else 4)
        handle.write(struct.pack('<Q' if self._big else '<I', directory))
        handle.seek(0, 2)


__all__ = ['STRIP_BYTES', 'TiffRowWriter']
