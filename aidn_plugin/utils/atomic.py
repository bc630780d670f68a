"""Atomic checkpoint writing: a crash or SIGKILL mid-write never leaves a truncated file behind."""
import os
import tempfile

import torch


def atomic_torch_save(obj, path):
    """``torch.save(obj, path)`` through a temporary file in the same folder and ``os.replace``.

    The file appears complete or not at all; an earlier file of the same name stays until the new one is
    whole. The temporary file is removed on failure.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(handle, 'wb') as tmp:
            torch.save(obj, tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise
