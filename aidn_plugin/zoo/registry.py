"""The model zoo: named AIDN weights, sha256-checked downloads, no network when a copy is at hand.

``ZOO`` maps a name (``aidn_x4``...) to a :class:`ZooEntry`. A file is looked for, in this order:

1. inside the package (``aidn_plugin/zoo/weights/<filename>``, shipped with the wheel),
2. in torch hub's cache, ``torch.hub.get_dir()/checkpoints/<filename>`` (``$TORCH_HOME`` respected),
3. at the entry's URL, downloaded into that cache.

A local copy is used only when its sha256 matches the entry. A download streams into a temp file in the
cache folder while hashing; the temp file is renamed to its final name only after the hash matches, and
removed on any failure (HTTP error, transfer cut short, mismatch, Ctrl-C), so nothing half-written or
unverified is ever left under the final name.

The table of published weights is data beside the files it describes: ``weights/published.json``. Adding
weights: run ``scripts/publish_weights.py`` on a BasicSR checkpoint; it writes ``NAME-<sha256[:8]>.pth`` into
that folder and adds (or replaces) its entry in the table.
"""
import hashlib
import json
import os
import re
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path

from aidn_plugin.utils.atomic import staged_file

PACKAGE_WEIGHTS_DIR = Path(__file__).resolve().parent / 'weights'
_CHUNK = 1 << 16


@dataclass(frozen=True)
class ZooEntry:
    """One named set of published weights.

    Attributes:
        name (str): the name users type (``aidn_x4``).
        scale (int): upscale factor.
        arch (dict): the AIDN keyword arguments the weights were trained with that differ from AIDN's
            defaults (the only place those defaults are written is AIDN's constructor).
        filename (str): ``NAME-<sha256[:8]>.pth`` (BasicSR's naming convention).
        url (str): where to download the file.
        sha256 (str): full sha256 of the file (64 hex digits).
        train_data (str): training data (e.g. ``DF2K sub-images 480x480, LMDB``).
        recipe (str): training recipe (option file, iterations, batch, patch, schedule, EMA).
        psnr (dict): Y-PSNR (dB, border crop = scale) per benchmark set, e.g. ``{'Set5': 32.1, ...}``.
        license (str): license of the weights.
        notes (str): anything else a user should know.
        evidence (str): the committed file (repository path) holding the ``basicsr test`` run behind
            ``psnr``.
        bf16_psnr_change (dict): the Y-PSNR change (dB) of running these weights in bf16, per backend
            (``torch``, ``openvino``) and benchmark set; empty when not measured. ``aidn upscale
            --precision auto`` picks bf16 only where it is measured to cost at most 0.02 dB.
        bf16_evidence (str): the committed file (repository path) holding that measurement.
    """
    name: str
    scale: int
    arch: dict
    filename: str
    url: str
    sha256: str
    train_data: str
    recipe: str
    psnr: dict = field(default_factory=dict)
    license: str = 'Apache-2.0'
    notes: str = ''
    evidence: str = ''
    bf16_psnr_change: dict = field(default_factory=dict)
    bf16_evidence: str = ''

    def __post_init__(self):
        if not re.fullmatch(r'[0-9a-f]{64}', self.sha256):
            raise ValueError(f'zoo entry {self.name!r}: sha256 must be 64 lowercase hex digits')
        if not re.fullmatch(rf'{re.escape(self.name)}-{self.sha256[:8]}\.(pth|safetensors)', self.filename):
            raise ValueError(f'zoo entry {self.name!r}: filename must be {self.name}-{self.sha256[:8]}.pth, '
                             f'got {self.filename!r}')
        if self.arch.get('upscale', self.scale) != self.scale:
            raise ValueError(f'zoo entry {self.name!r}: arch upscale {self.arch["upscale"]} != scale {self.scale}')


PUBLISHED_TABLE = PACKAGE_WEIGHTS_DIR / 'published.json'


def load_table(path=PUBLISHED_TABLE):
    """The zoo table in ``path`` (JSON: ``{"weights": [entry, ...]}``, one entry per ZooEntry field) as
    name -> :class:`ZooEntry`."""
    with open(path, encoding='utf-8') as handle:
        rows = json.load(handle)['weights']
    return {row['name']: ZooEntry(**row) for row in rows}


ZOO = load_table()


class UnknownModelError(KeyError):
    """A zoo name that is not in the table; the message lists the known names."""

    def __str__(self):
        return self.args[0]


class DownloadError(RuntimeError):
    """A download that failed or did not match its sha256; nothing was saved."""


def get_entry(name, table=None):
    """The :class:`ZooEntry` called ``name`` in ``table`` (default: :data:`ZOO`)."""
    table = ZOO if table is None else table
    if name in table:
        return table[name]
    known = ', '.join(sorted(table)) if table else 'none'
    raise UnknownModelError(f'unknown model {name!r}; known models: {known}')


def cache_dir():
    """torch hub's checkpoint cache: ``torch.hub.get_dir()/checkpoints`` (follows ``$TORCH_HOME``)."""
    import torch.hub
    return Path(torch.hub.get_dir()) / 'checkpoints'


def file_sha256(*paths):
    """sha256 hex digest of a file, read in chunks; given several paths, of their bytes one after another
    (a file stored in parts hashes as the whole file)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, 'rb') as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b''):
                digest.update(chunk)
    return digest.hexdigest()


def packaged_path(entry):
    return PACKAGE_WEIGHTS_DIR / entry.filename


def cached_path(entry):
    return cache_dir() / entry.filename


def find_local(entry):
    """Path of a verified local copy (packaged, then cached), or None. A copy whose hash does not match
    is skipped with a warning (a cached one is replaced by the next download)."""
    for path in (packaged_path(entry), cached_path(entry)):
        if path.is_file():
            if file_sha256(path) == entry.sha256:
                return path
            warnings.warn(f'{path}: sha256 does not match zoo entry {entry.name!r}; ignoring this copy')
    return None


def download(entry, force=False, progress=False, timeout=60):
    """Download ``entry`` into the cache and verify it; return its path.

    Args:
        entry (ZooEntry): what to fetch.
        force (bool): download even when a verified copy is cached.
        progress (bool): show a tqdm progress bar on stderr.
        timeout (float): seconds to wait for the server on connect and on each read.

    Raises:
        DownloadError: HTTP or network error, a transfer cut short, or a sha256 mismatch. The temp file
            is removed; the cache holds nothing new.
    """
    target = cached_path(entry)
    if not force and target.is_file() and file_sha256(target) == entry.sha256:
        return target
    with staged_file(target) as tmp:
        with open(tmp, 'wb') as out:
            received, expected, digest = _fetch(entry, out, progress, timeout)
        if expected is not None and received != expected:
            raise DownloadError(f'download of {entry.name} from {entry.url} was cut short: received {received} '
                                f'of {expected} bytes; nothing was saved')
        if digest != entry.sha256:
            raise DownloadError(f'download of {entry.name} from {entry.url}: sha256 mismatch (expected '
                                f'{entry.sha256}, got {digest}, {received} bytes); nothing was saved')
    return target


def _fetch(entry, out, progress, timeout):
    """Stream ``entry.url`` into ``out`` while hashing. Returns (bytes received, Content-Length or None,
    sha256 hex)."""
    from tqdm import tqdm

    from aidn_plugin.version import __version__
    request = urllib.request.Request(entry.url, headers={'User-Agent': f'aidn-plugin/{__version__}'})
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get('Content-Length')
            expected = int(length) if length and length.isdigit() else None
            with tqdm(total=expected, unit='B', unit_scale=True, desc=entry.filename, disable=not progress,
                      leave=False) as bar:
                while True:
                    chunk = response.read(_CHUNK)
                    if not chunk:
                        break
                    digest.update(chunk)
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise DownloadError(f'download of {entry.name} from {entry.url} failed: HTTP {error.code} '
                            f'{error.reason}; nothing was saved') from None
    except (OSError, HTTPException) as error:  # URLError, timeouts, resets, IncompleteRead
        reason = getattr(error, 'reason', None) or error
        raise DownloadError(f'download of {entry.name} from {entry.url} failed after {received} bytes: '
                            f'{type(error).__name__}: {reason}; nothing was saved') from None
    return received, expected, digest.hexdigest()


def ensure_local(name, table=None, progress=False, allow_download=True):
    """Path of verified weights for zoo name ``name``: packaged, cached, or downloaded now.

    Args:
        name (str): zoo name.
        table (dict | None): name -> ZooEntry; default :data:`ZOO`.
        progress (bool): progress bar for a download.
        allow_download (bool): when False and no local copy exists, raise :class:`DownloadError`.
    """
    entry = get_entry(name, table)
    path = find_local(entry)
    if path is not None:
        return path
    if not allow_download:
        raise DownloadError(f'{name} is not downloaded, and allow_download is False')
    return download(entry, progress=progress)


def load_model(name, table=None, fuse=True, device='cpu', progress=False):
    """Build AIDN with weights: eval mode, fused by default.

    Args:
        name (str | os.PathLike): a zoo name (its weights packaged, cached, or downloaded now), or the path
            of any AIDN checkpoint file (:func:`aidn_plugin.zoo.checkpoints.load_model`).
        table (dict | None): name -> ZooEntry; default :data:`ZOO`.
        fuse (bool): fold the asymmetric units (deploy form). Default True.
        device (str | torch.device): where to put the model. Default ``cpu``.
        progress (bool): progress bar for a download.
    """
    from aidn_plugin.zoo.checkpoints import load_model as load_file
    if name not in (ZOO if table is None else table) and os.path.isfile(os.fspath(name)):
        return load_file(name, fuse=fuse, device=device)
    entry = get_entry(name, table)
    path = ensure_local(name, table, progress=progress)
    return load_file(path, scale=entry.scale, arch=entry.arch, fuse=fuse, device=device)


def status(entry):
    """``packaged``, ``cached`` or ``not downloaded`` (by file presence; hashes are checked on use)."""
    if packaged_path(entry).is_file():
        return 'packaged'
    if cached_path(entry).is_file():
        return 'cached'
    return 'not downloaded'
