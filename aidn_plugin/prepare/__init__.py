"""Data preparation behind ``aidn prepare``: sub-images, bicubic LR, LMDB, edge maps.

Every step writes into a hidden staging folder next to its output and renames it into place at the end,
so an interrupted or failed run leaves nothing half-written; an existing output is refused unless
``overwrite=True``. User mistakes raise :class:`PrepareError` (one line, naming the file or the parameter).
"""


class PrepareError(ValueError):
    """A mistake in the input or the arguments of a preparation step.

    Args:
        message (str): one line naming the file, or the parameter as Python spells it.
        parameter (str | None): that spelling (``crop_size``, ``overwrite=True``...) when the message is
            about a parameter, so that a command line can show its own flag instead.
    """

    def __init__(self, message, parameter=None):
        super().__init__(message)
        self.parameter = parameter


__all__ = ['PrepareError']
