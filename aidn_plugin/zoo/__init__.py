"""The model zoo: named, sha256-checked AIDN weights (``registry``), the table of published weights as
data beside the files it describes (``weights/published.json``), checkpoint reading (``checkpoints``), and
the warm start of one scale from another's body (``warm_start``).

    from aidn_plugin.zoo import load_model
    model = load_model('aidn_x4')                      # a zoo name: packaged, cached or downloaded
    model = load_model('experiments/x/models/net_g_500000.pth')   # or any AIDN checkpoint file
"""
from aidn_plugin.zoo.registry import (ZOO, DownloadError, UnknownModelError, ZooEntry, cache_dir, cached_path,
                                      download, ensure_local, file_sha256, find_local, get_entry, load_model,
                                      packaged_path, status)

__all__ = ['ZOO', 'DownloadError', 'UnknownModelError', 'ZooEntry', 'cache_dir', 'cached_path', 'download',
           'ensure_local', 'file_sha256', 'find_local', 'get_entry', 'load_model', 'packaged_path', 'status']
