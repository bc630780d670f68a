"""Data preparation behind ``aidn prepare``: sub-images, bicubic LR, LMDB, edge maps.

Every step writes into a hidden staging folder next to its output and renames it into place at the end,
so an interrupted or failed run leaves nothing half-written; an existing output is refused unless
``overwrite=True``. User mistakes raise :class:`PrepareError` (one line, naming the file or argument).
"""


class PrepareError(ValueError):
    """A mistake in the input or the arguments of a preparation step."""


__all__ = ['PrepareError']
