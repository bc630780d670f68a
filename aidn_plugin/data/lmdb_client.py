"""Read-only access to BasicSR-layout LMDBs, one environment per folder per process.

py-lmdb refuses to open the same environment twice in one process, so two datasets on one LMDB (a
training set and a validation subset of it, or BasicSR's single-process validation) would fail with
BasicSR's ``LmdbBackend``, which opens its own. Here every dataset of a process shares the handle. The
cache is keyed by process id: a DataLoader worker (a forked child) opens its own handles instead of
using the parent's, which LMDB forbids across ``fork``; the child first closes its inherited copies of
the parent's handles (only the child's mappings and descriptors: the parent is not affected), because
py-lmdb would otherwise refuse to open those folders again in the child.
"""
import os

_ENVIRONMENTS = {}


def open_environment(path, **options):
    """The process's read-only environment for ``path`` (BasicSR's defaults: no lock, no readahead)."""
    import lmdb
    pid = os.getpid()
    for inherited in [k for k in _ENVIRONMENTS if k[0] != pid]:
        _ENVIRONMENTS.pop(inherited).close()
    key = (pid, os.path.realpath(path))
    env = _ENVIRONMENTS.get(key)
    if env is None:
        settings = dict(readonly=True, lock=False, readahead=False)
        settings.update(options)
        env = lmdb.open(path, **settings)
        _ENVIRONMENTS[key] = env
    return env


def stored_keys(path, **options):
    """The set of keys (str) an LMDB folder holds, read without reading the values."""
    with open_environment(path, **options).begin(write=False) as txn:
        return {key.decode('ascii') for key in txn.cursor().iternext(keys=True, values=False)}


class LmdbClient:
    """``get(key, client_key)`` like BasicSR's ``FileClient('lmdb', db_paths=..., client_keys=...)``."""

    def __init__(self, db_paths, client_keys, **options):
        self._envs = {client: open_environment(path, **options) for client, path in zip(client_keys, db_paths)}

    def get(self, key, client_key):
        with self._envs[client_key].begin(write=False) as txn:
            return txn.get(str(key).encode('ascii'))


__all__ = ['LmdbClient', 'open_environment', 'stored_keys']
