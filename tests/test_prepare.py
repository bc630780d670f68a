"""``aidn prepare subimages|lr|lmdb|edges`` and the MATLAB-style bicubic they use."""
import os
import re

import cv2
import numpy as np
import pytest
import torch

from aidn_plugin.utils import image_io
from aidn_plugin.cli.aidn_cli import main as aidn_main
from aidn_plugin.edges import edge_map
from aidn_plugin.utils.bicubic import bicubic_downscale, mod_crop
from aidn_plugin.prepare.lmdb_writer import make_lmdb
from aidn_plugin.prepare.subimages import crop_starts, extract_subimages
from data_helpers import SCALE, data_tree, photo_bgr, write_image  # noqa: F401  (fixture)
from helpers import call_main, run, script


def _cli(capsys, *argv):
    """Run ``aidn`` in this process (its real main); returns (exit code, stdout, stderr)."""
    return call_main(aidn_main, argv, capsys)


def _listing(folder):
    return sorted(os.listdir(folder))


# ---------------------------------------------------------------- bicubic
@pytest.mark.parametrize('scale', [2, 3, 4])
def test_bicubic_clamps_borders_like_matlab(scale):
    """Compared with BasicSR's imresize (float, mirrored border) on an edge-replicated copy of the image:
    MATLAB replicates end-points. Only the rounding of the intermediate pass may differ (about 1 level;
    values are kept in 40..215 so that no overshoot saturates the intermediate)."""
    from basicsr.utils.matlab_functions import imresize
    hr = np.random.default_rng(scale).integers(40, 216, (12 * scale + scale - 1, 15 * scale, 3), dtype=np.uint8)
    hr = mod_crop(hr, scale)
    hr[0], hr[1:2 * scale] = 40, 215  # a dark edge row: clamping repeats it, mirroring repeats the bright ones
    pad = 4 * scale
    padded = np.pad(hr, ((pad, pad), (pad, pad), (0, 0)), mode='edge').astype(np.float32)
    reference = imresize(padded, 1. / scale)[pad // scale:-(pad // scale), pad // scale:-(pad // scale)]
    ours = bicubic_downscale(hr, scale)
    assert ours.shape == (hr.shape[0] // scale, hr.shape[1] // scale, 3) and ours.dtype == np.uint8
    assert np.abs(ours - reference).max() <= 1.1
    # BasicSR's own border (mirrored) is not what MATLAB does: it differs by more on this image
    mirrored = np.floor(imresize(hr.astype(np.float32), 1. / scale) + 0.5)
    assert np.abs(ours[0].astype(float) - mirrored[0]).min() >= 3


def test_bicubic_window_equals_crop_of_whole_image():
    hr = photo_bgr('astronaut', 0, 0, 240, 240)
    whole = bicubic_downscale(hr, 4)
    window = bicubic_downscale(hr[40:160, 80:200], 4)  # LR rows 10..40, cols 20..50
    assert np.array_equal(window[3:-3, 3:-3], whole[13:37, 23:47])


def test_bicubic_keeps_type_and_channels():
    grey16 = (photo_bgr('camera', 0, 0, 64, 48).astype(np.uint16) * 257)
    out = bicubic_downscale(grey16, 2)
    assert out.shape == (32, 24) and out.dtype == np.uint16
    flat = np.full((12, 12, 3), 200, np.uint8)
    assert np.array_equal(bicubic_downscale(flat, 3), np.full((4, 4, 3), 200, np.uint8))
    with pytest.raises(ValueError, match='not a multiple of the scale 4'):
        bicubic_downscale(np.zeros((10, 12, 3), np.uint8), 4)


# ---------------------------------------------------------------- lr
@pytest.mark.slow
def test_prepare_lr_writes_matlab_bicubic_and_refuses_to_overwrite(capsys, tmp_path, data_tree):
    """The command's output; then, in a real subprocess of the console script, a one-line refusal."""
    out = tmp_path / 'LR_bicubic'
    code, stdout, _ = _cli(capsys, 'prepare', 'lr', data_tree.hr, '-o', str(out), '--scale', '2', '4',
                           '--filename-tmpl', '{}x', '--workers', '2')
    assert code == 0 and stdout.startswith('aidn prepare lr: wrote')
    assert _listing(out) == ['X2', 'X4']
    for scale in (2, 4):
        assert _listing(out / f'X{scale}') == [f'{n}x.png' for n in data_tree.names]
        for name in data_tree.names:
            hr = image_io.read(os.path.join(data_tree.hr, f'{name}.png'))
            lr = image_io.read(str(out / f'X{scale}' / f'{name}x.png'))
            assert lr.shape[:2] == (hr.shape[0] // scale, hr.shape[1] // scale)
            assert np.array_equal(lr, bicubic_downscale(mod_crop(hr, scale), scale))
    before = (out / 'X4' / 'coffeex.png').read_bytes()
    again = run([script('aidn'), 'prepare', 'lr', data_tree.hr, '-o', str(out), '--scale', '4'])
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f'aidn prepare: error: {out / "X4"}: already exists; pass --overwrite to replace it']
    assert 'Traceback' not in again.stderr
    assert (out / 'X4' / 'coffeex.png').read_bytes() == before


def test_prepare_lr_overwrite_replaces(capsys, tmp_path, data_tree):
    out = tmp_path / 'lr'
    assert _cli(capsys, 'prepare', 'lr', data_tree.hr, '-o', str(out), '--workers', '1')[0] == 0
    (out / 'X4' / 'stale.png').write_bytes(b'old')
    code, stdout, _ = _cli(capsys, 'prepare', 'lr', data_tree.hr, '-o', str(out), '--overwrite', '--workers', '1')
    assert code == 0 and 'X4' in stdout
    assert _listing(out / 'X4') == [f'{n}.png' for n in data_tree.names]  # stale file gone with the old folder
    assert _listing(tmp_path) == ['lr']  # no staging or old folders left behind


# ---------------------------------------------------------------- subimages
def test_crop_starts_follow_basicsr_recipe():
    assert crop_starts(1000, 480, 240) == [0, 240, 480, 520]
    assert crop_starts(960, 480, 240) == [0, 240, 480]
    assert crop_starts(1000, 480, 240, thresh_size=40) == [0, 240, 480]
    assert crop_starts(400, 480, 240) == []


def test_subimages_in_worker_processes(tmp_path):
    src = tmp_path / 'hr'
    colour = photo_bgr('astronaut', 0, 0, 300, 250)
    grey = photo_bgr('camera', 0, 0, 200, 260)
    write_image(src / 'astro.png', colour)
    write_image(src / 'cam.png', grey)
    write_image(src / 'tiny.png', colour[:50, :50])
    images, crops, skipped = extract_subimages(str(src), str(tmp_path / 'sub'), crop_size=120, step=100,
                                               workers=2)
    ys, xs = crop_starts(300, 120, 100), crop_starts(250, 120, 100)
    assert (images, skipped) == (3, ['tiny.png'])
    assert crops == len(ys) * len(xs) + len(crop_starts(200, 120, 100)) * len(crop_starts(260, 120, 100))
    names = _listing(tmp_path / 'sub')
    assert names[0] == 'astro_s001.png' and f'astro_s{len(ys) * len(xs):03d}.png' in names
    for number, (y, x) in enumerate(((y, x) for y in ys for x in xs), 1):
        crop = image_io.read_stored(str(tmp_path / 'sub' / f'astro_s{number:03d}.png'))
        assert np.array_equal(crop, colour[y:y + 120, x:x + 120])
    assert image_io.read_stored(str(tmp_path / 'sub' / 'cam_s001.png')).shape == (120, 120)  # grey stays grey


# ---------------------------------------------------------------- lmdb
def test_lmdb_layout_and_basicsr_paired_dataset_reads_it(data_tree):
    from basicsr.data.paired_image_dataset import PairedImageDataset
    assert _listing(data_tree.hr_lmdb) == ['data.mdb', 'lock.mdb', 'meta_info.txt']
    with open(os.path.join(data_tree.hr_lmdb, 'meta_info.txt')) as handle:
        lines = handle.read().splitlines()
    assert lines == ['astronaut.png (200,248,3) 1', 'chelsea.png (229,301,3) 1', 'coffee.png (184,236,3) 1']
    with open(os.path.join(data_tree.edges_lmdb, 'meta_info.txt')) as handle:
        assert re.fullmatch(r'astronaut\.png \(50,62,1\) 1', handle.readline().strip())
    theirs = PairedImageDataset(dict(dataroot_gt=data_tree.hr_lmdb, dataroot_lq=data_tree.lr_lmdb,
                                     io_backend=dict(type='lmdb'), scale=SCALE, phase='val'))
    assert len(theirs) == 3
    for index, name in enumerate(data_tree.names):
        out = theirs[index]
        assert out['gt_path'] == name
        hr = cv2.imread(os.path.join(data_tree.hr, f'{name}.png')).astype(np.float32) / 255.
        lr = cv2.imread(os.path.join(data_tree.lr, f'{name}.png')).astype(np.float32) / 255.
        h, w = lr.shape[:2]
        assert torch.equal(out['lq'], torch.from_numpy(lr[:, :, ::-1].transpose(2, 0, 1).copy()))
        assert torch.equal(out['gt'], torch.from_numpy(hr[:h * SCALE, :w * SCALE, ::-1].transpose(2, 0, 1).copy()))


def test_lmdb_in_worker_processes_and_growing_map(tmp_path):
    """Four worker processes encode; a map far too small for the data is grown, not a failure."""
    import lmdb
    src = tmp_path / 'imgs'
    for i in range(6):
        write_image(src / f'img{i}.png', photo_bgr('astronaut', 40 * i, 0, 200, 200))
    assert make_lmdb(str(src), str(tmp_path / 'out.lmdb'), workers=4, map_size=64 << 10) == 6
    env = lmdb.open(str(tmp_path / 'out.lmdb'), readonly=True, lock=False)
    with env.begin() as txn:
        for i in range(6):
            stored = image_io.decode_stored(txn.get(f'img{i}'.encode()), f'img{i}')
            assert np.array_equal(stored, photo_bgr('astronaut', 40 * i, 0, 200, 200))
    assert env.info()['map_size'] > 64 << 10
    env.close()


# ---------------------------------------------------------------- edges
def test_prepare_edges_writes_16bit_maps(capsys, tmp_path, data_tree):
    code, stdout, _ = _cli(capsys, 'prepare', 'edges', data_tree.lr, '-o', str(tmp_path / 'e'),
                           '--operator', 'scharr', '--workers', '2')
    assert code == 0 and '3 edge maps' in stdout
    for name in data_tree.names:
        stored = cv2.imread(str(tmp_path / 'e' / f'{name}.png'), cv2.IMREAD_UNCHANGED)
        assert stored.dtype == np.uint16 and stored.ndim == 2
        lr = image_io.read(os.path.join(data_tree.lr, f'{name}.png'))
        lq = torch.from_numpy(image_io.to_float(lr[:, :, ::-1]).transpose(2, 0, 1).copy())
        expected = edge_map(lq, 'scharr')[0].numpy()
        assert np.abs(stored / 65535. - expected).max() <= 0.5 / 65535 + 1e-6
    code, _, err = _cli(capsys, 'prepare', 'edges', data_tree.lr, '-o', str(tmp_path / 'f'), '--operator', 'canny')
    assert code == 2 and "--operator 'canny': expected one of sobel, scharr, laplacian" in err
    assert not (tmp_path / 'f').exists()


# ---------------------------------------------------------------- errors: parameters in the library, flags in the CLI
def test_library_errors_name_parameters_and_the_command_names_its_flags(capsys, tmp_path, data_tree):
    """The library knows its parameters, not the command line; ``aidn prepare`` shows its own flags."""
    from aidn_plugin.prepare import PrepareError
    from aidn_plugin.prepare.edge_maps import make_edges
    from aidn_plugin.prepare.lr import make_lr
    out = str(tmp_path / 'out')
    calls = [
        (lambda: extract_subimages(data_tree.hr, out, crop_size=0), 'crop_size', 'crop_size must be a positive integer'),
        (lambda: extract_subimages(data_tree.hr, out, thresh_size=-1), 'thresh_size', 'thresh_size must be >= 0'),
        (lambda: make_lr(data_tree.hr, out, scales=[1]), 'scales', 'scales must be integers >= 2'),
        (lambda: make_lr(data_tree.hr, out, filename_tmpl='x4'), 'filename_tmpl', "filename_tmpl 'x4' must contain"),
        (lambda: make_lmdb(data_tree.hr, out + '.lmdb', compress_level=12), 'compress_level',
         'compress_level must be 0..9'),
        (lambda: make_edges(data_tree.lr, out, operator='canny'), 'operator', "operator 'canny': expected one of"),
        (lambda: make_edges(data_tree.lr, data_tree.hr), 'overwrite=True', 'already exists; pass overwrite=True'),
    ]
    for call, parameter, message in calls:
        with pytest.raises(PrepareError, match=re.escape(message)) as info:
            call()
        assert info.value.parameter == parameter and '--' not in str(info.value)
    assert not os.path.exists(out)

    for argv, message in [
            (['subimages', data_tree.hr, '-o', out, '--thresh-size', '-1'], '--thresh-size must be >= 0, got -1'),
            (['lr', data_tree.hr, '-o', out, '--filename-tmpl', 'x4'], "--filename-tmpl 'x4' must contain {}"),
            (['edges', data_tree.lr, '-o', data_tree.hr], f'{data_tree.hr}: already exists; pass --overwrite')]:
        code, _, err = _cli(capsys, 'prepare', *argv)
        assert code == 2 and err.startswith('aidn prepare: error: ') and message in err, err
    assert not os.path.exists(out)
