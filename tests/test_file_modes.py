"""Files and folders the package writes get the usual permissions (0666 / 0777 minus the umask), not the
private 0600 / 0700 of the temporary entries the atomic writer stages them in: an exported ONNX file, a
checkpoint, an image, a prepared folder and its files."""
import os
import stat

import cv2
import numpy as np
import pytest

from aidn_plugin.utils import atomic
from zoo_helpers import tiny_model
from zoo_helpers import single_thread  # noqa: F401  (autouse fixture: one torch thread)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def usual_umask():
    """(file mode, folder mode) that open() and mkdir() give under this process's umask."""
    umask = os.umask(0o022)
    os.umask(umask)  # reading the umask means setting it: put it back at once
    return 0o666 & ~umask, 0o777 & ~umask


def test_the_modes_follow_the_umask(usual_umask):
    assert (atomic.FILE_MODE, atomic.DIR_MODE) == usual_umask


def test_exported_onnx_file_has_the_usual_mode(tmp_path, usual_umask):
    pytest.importorskip('onnxruntime')
    from aidn_plugin.inference.onnx_export import export_onnx
    path = tmp_path / 'aidn.onnx'
    export_onnx(tiny_model(seed=7).fuse(), path)
    assert _mode(path) == usual_umask[0]
    assert sorted(os.listdir(tmp_path)) == ['aidn.onnx']  # no staged leftover


def test_checkpoints_images_and_prepared_folders_have_the_usual_modes(tmp_path, usual_umask):
    from aidn_plugin.prepare.subimages import extract_subimages
    from aidn_plugin.utils import image_io
    from aidn_plugin.zoo.checkpoints import save_checkpoint
    file_mode, dir_mode = usual_umask
    checkpoint = tmp_path / 'net_g_1.pth'
    save_checkpoint(checkpoint, tiny_model(seed=8).state_dict(), {})
    image = tmp_path / 'hr' / 'a.png'
    image.parent.mkdir()
    image_io.write_png(str(image), np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    assert cv2.imread(str(image)).shape == (40, 40, 3)
    extract_subimages(str(image.parent), str(tmp_path / 'sub'), crop_size=20, step=20, workers=1)
    assert _mode(checkpoint) == file_mode and _mode(image) == file_mode
    assert _mode(tmp_path / 'sub') == dir_mode
    crops = sorted((tmp_path / 'sub').iterdir())
    assert len(crops) == 4 and {_mode(crop) for crop in crops} == {file_mode}
