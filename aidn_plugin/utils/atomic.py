"""The one atomic writer of the project: every file or folder it writes appears whole or not at all.

A crash, a SIGKILL or an error mid-write never leaves a truncated file under the final name, and an
earlier file of that name stays until the new one is complete. Everything is written to a hidden
temporary entry in the target's own folder (so the final ``os.replace`` / ``os.rename`` is atomic), which is
removed on any failure. Finished entries get the usual permissions (0666 / 0777 minus the umask), not the
private ones of ``mkstemp`` / ``mkdtemp``.

* :func:`staged_file` - a context manager yielding a temporary path to write by any means (a library
  that wants a file name: ONNX, matplotlib, a download stream);
* :func:`staged_stream` - the same as an open binary file, flushed to disk before the rename: for output
  written piece by piece (an image streamed row by row, a checkpoint);
* :func:`write_bytes`, :func:`write_text`, :func:`torch_save` - the common cases on top of them;
* :func:`staged_folder` - the same for a whole output folder (data preparation).
"""
import contextlib
import os
import shutil
import tempfile


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()
DIR_MODE = 0o777 & ~_umask()


class OutputExistsError(FileExistsError):
    """An output that exists already and was not to be replaced; the message names it."""


@contextlib.contextmanager
def staged_file(path):
    """Yield a temporary path next to ``path``; when the block ends without error it becomes ``path``.

    Args:
        path (str | os.PathLike): the final file; its folder is created if needed.
    """
    path = os.path.abspath(os.fspath(path))
    folder, base = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{base}.', suffix='.part')
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def staged_stream(path):
    """Yield a binary file open for writing (and seeking) that becomes ``path`` when the block ends without
    error; on any error, or an interruption, the partial file is removed and an old ``path`` stays.

    Args:
        path (str | os.PathLike): the final file; its folder is created if needed.
    """
    with staged_file(path) as tmp:
        with open(tmp, 'wb') as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically."""
    with staged_stream(path) as handle:
        handle.write(data)


def write_text(path, text):
    """Write ``text`` to ``path`` atomically, UTF-8 encoded."""
    write_bytes(path, text.encode('utf-8'))


def torch_save(obj, path):
    """``torch.save(obj, path)`` atomically (checkpoints, training states, published weights)."""
    import torch
    with staged_stream(path) as handle:
        torch.save(obj, handle)


@contextlib.contextmanager
def staged_folder(path, overwrite=False):
    """Yield a hidden temporary folder next to ``path``; when the block ends without error it is renamed
    to ``path`` (an old ``path`` is replaced only with ``overwrite``), and deleted on any error.

    Args:
        path (str | os.PathLike): the final folder.
        overwrite (bool): replace an existing ``path``; otherwise it raises :class:`OutputExistsError`
            before anything is created.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.lexists(path) and not overwrite:
        raise OutputExistsError(f'{path}: already exists')
    parent, base = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=f'.{base}.partial-')
    try:
        os.chmod(staging, DIR_MODE)
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if os.path.lexists(path):
        # the old output is moved aside first, so that the new one is in place before the old one goes
        old = tempfile.mkdtemp(dir=parent, prefix=f'.{base}.old-')
        os.rename(path, os.path.join(old, base))
        os.rename(staging, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, path)


# the name the training code has used since the first release
atomic_torch_save = torch_save

__all__ = ['DIR_MODE', 'FILE_MODE', 'OutputExistsError', 'atomic_torch_save', 'staged_file', 'staged_folder',
           'staged_stream', 'torch_save', 'write_bytes', 'write_text']
