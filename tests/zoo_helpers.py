"""Helpers for the weights / zoo / upscale / export / spandrel tests: tiny checkpoints, zoo entries for
them, and a real HTTP server on 127.0.0.1 that can also corrupt or cut short what it sends."""
import hashlib
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from aidn_plugin.archs.aidn_arch import AIDN
from aidn_plugin.zoo.checkpoints import save_checkpoint
from aidn_plugin.zoo.registry import ZooEntry

TINY = dict(num_feat=8, num_block=2, num_out=2)


def tiny_model(seed=0, **overrides):
    """A tiny AIDN (random weights from ``seed``), eval mode, training (unfused) form."""
    torch.manual_seed(seed)
    return AIDN(**{**TINY, **overrides}).eval()


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def publish(model, folder, name, arch=None):
    """Write ``model`` as a zoo file ``folder/name-<sha8>.pth`` (``{'params', 'arch'}``); returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f'{name}.tmp'
    save_checkpoint(tmp, model.state_dict(), arch or {})
    path = folder / f'{name}-{sha256_of(tmp)[:8]}.pth'
    tmp.rename(path)
    return path


def entry_for(path, name, url, scale, arch=None):
    """A ZooEntry for a file written by :func:`publish`, served at ``url``."""
    return ZooEntry(name=name, scale=scale, arch=dict(arch or {}, upscale=scale), filename=Path(path).name,
                    url=url, sha256=sha256_of(path), train_data='random weights (test)', recipe='none',
                    psnr={'Set5': 1.0}, license='Apache-2.0')


class _Handler(BaseHTTPRequestHandler):
    routes = {}  # path -> (bytes, mode); mode: 'ok', 'corrupt' (one byte flipped), 'truncate' (half, then close)
    hits = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.hits.append(self.path)
        if self.path not in self.routes:
            self.send_error(404, 'Not Found')
            return
        data, mode = self.routes[self.path]
        if mode == 'corrupt':
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if mode == 'truncate':
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    def log_message(self, *args):  # keep test output clean
        pass


@contextmanager
def file_server(routes):
    """Serve ``routes`` ({'/name': (bytes, mode)}) on 127.0.0.1 in a thread; yields (base_url, hits)."""
    handler = type('Handler', (_Handler, ), {'routes': dict(routes), 'hits': []})
    server = ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}', handler.hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope='module', autouse=True)
def single_thread():
    """One torch thread while a module runs: on the shared 2-core CI box two spinning OpenMP threads are
    several times slower than one. Import this name into a test module to use it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
