"""Bad input for the dataset and ``aidn prepare``: each one a clear error naming the file, key or option,
and no half-written output. Also the documented conversions of grey, RGBA and 16-bit sources."""
import os
import shutil

import cv2
import numpy as np
import pytest
import torch

from aidn_plugin.utils import image_io
from aidn_plugin.cli.aidn_cli import main as aidn_main
from aidn_plugin.data.edge_paired_image_dataset import DatasetError
from aidn_plugin.utils.meta_info import MetaInfoError
from aidn_plugin.prepare import PrepareError
from aidn_plugin.utils.bicubic import bicubic_downscale
from aidn_plugin.prepare.lmdb_writer import make_lmdb
from aidn_plugin.prepare.lr import make_lr
from aidn_plugin.prepare.subimages import extract_subimages
from aidn_plugin.data import EdgePairedImageDataset
from data_helpers import SCALE, data_tree, dataset_opt, make_dataset, photo_bgr, sample, write_image  # noqa: F401
from helpers import call_main, run, script


def _cli(capsys, *argv):
    """Run ``aidn`` in this process (its real main); returns (exit code, stdout, stderr)."""
    return call_main(aidn_main, argv, capsys)


@pytest.fixture
def broken_folder(tmp_path):
    """Two good images and one corrupt file (garbage with a .png name)."""
    folder = tmp_path / 'imgs'
    write_image(folder / 'a.png', photo_bgr('astronaut', 0, 0, 160, 160))
    write_image(folder / 'c.png', photo_bgr('coffee', 0, 0, 160, 160))
    (folder / 'b.png').write_bytes(b'\x89PNG\r\n\x1a\n' + os.urandom(300))
    return folder


# ---------------------------------------------------------------- corrupt / truncated images
@pytest.mark.parametrize('kind', ['garbage', 'truncated-png', 'truncated-jpeg', 'empty'])
def test_corrupt_or_truncated_image_in_dataset(tmp_path, kind):
    hr = tmp_path / 'hr'
    good = photo_bgr('astronaut', 0, 0, 128, 128)
    write_image(hr / 'good.png', good)
    if kind == 'garbage':
        name, data = 'bad.png', b'this is not an image at all' * 10
    elif kind == 'truncated-png':
        name, data = 'bad.png', cv2.imencode('.png', good)[1].tobytes()[:-200]
    elif kind == 'truncated-jpeg':
        name, data = 'bad.jpg', cv2.imencode('.jpg', good)[1].tobytes()[:-500]
    else:
        name, data = 'bad.png', b''
    (hr / name).write_bytes(data)
    dataset = make_dataset(hr, phase='val')
    bad = [i for i, p in enumerate(dataset.paths) if p['gt'].endswith(name)][0]
    with pytest.raises(image_io.ImageError, match=rf'^{str(hr / name)}: (not a readable image|truncated JPEG|empty)'):
        dataset[bad]
    assert dataset[1 - bad]['gt'].shape == (3, 128, 128)


def test_corrupt_image_in_prepare_lmdb_leaves_nothing(capsys, tmp_path, broken_folder):
    code, _, err = _cli(capsys, 'prepare', 'lmdb', str(broken_folder), '-o', str(tmp_path / 'x.lmdb'),
                        '--workers', '2')
    assert code == 2
    assert err.strip() == (f'aidn prepare: error: {broken_folder / "b.png"}: not a readable image '
                           '(corrupt, truncated or of an unknown format)')
    assert sorted(os.listdir(tmp_path)) == ['imgs']  # no LMDB, no staging folder


@pytest.mark.parametrize('step', ['subimages', 'lr'])
def test_corrupt_image_in_worker_process_leaves_nothing(tmp_path, broken_folder, step):
    with pytest.raises(image_io.ImageError, match='b.png: not a readable image'):
        if step == 'subimages':
            extract_subimages(str(broken_folder), str(tmp_path / 'out'), crop_size=64, step=64, workers=2)
        else:
            make_lr(str(broken_folder), str(tmp_path / 'out'), scales=[2, 4], workers=2)
    assert sorted(os.listdir(tmp_path)) == ['imgs']


# ---------------------------------------------------------------- LR / GT sizes
def _pair(tmp_path, gt_size, lr_size):
    """GT of gt_size (w, h) and an LR of lr_size, named alike."""
    w, h = gt_size
    gt = photo_bgr('coffee', 0, 0, h, w)
    write_image(tmp_path / 'hr' / 'img.png', gt)
    lr = cv2.resize(gt, lr_size, interpolation=cv2.INTER_AREA)
    write_image(tmp_path / 'lr' / 'img.png', lr)
    return str(tmp_path / 'hr'), str(tmp_path / 'lr')


@pytest.mark.parametrize('phase', ['train', 'val'])
def test_lr_of_floor_size_accepted_like_set14_ppt3(tmp_path, phase):
    """Set14's ppt3 is 529 pixels wide and its x4 LR 132: GT is cropped to 528. BasicSR's own
    PairedImageDataset rejects that pair in training; ours accepts it in both phases."""
    from basicsr.data.paired_image_dataset import PairedImageDataset
    hr, lr = _pair(tmp_path, (529, 200), (132, 50))
    out = sample(make_dataset(hr, phase=phase, dataroot_lq=lr, gt_size=128), 0, 0)
    if phase == 'val':
        assert out['gt'].shape == (3, 200, 528) and out['lq'].shape == (3, 50, 132)
    else:
        assert out['gt'].shape == (3, 128, 128) and out['lq'].shape == (3, 32, 32)
        theirs = PairedImageDataset(dict(dataroot_gt=hr, dataroot_lq=lr, io_backend=dict(type='disk'), scale=4,
                                         phase='train', gt_size=128, use_hflip=False, use_rot=False))
        with pytest.raises(ValueError, match='Scale mismatches'):
            theirs[0]


@pytest.mark.parametrize('lr_size', [(131, 50), (133, 50), (132, 49), (264, 100)])
@pytest.mark.parametrize('phase', ['train', 'val'])
def test_lr_of_any_other_size_is_refused_naming_both_files(tmp_path, lr_size, phase):
    hr, lr = _pair(tmp_path, (529, 200), lr_size)
    dataset = make_dataset(hr, phase=phase, dataroot_lq=lr, gt_size=64)
    expected = (f'LR {os.path.join(lr, "img.png")} is {lr_size[0]}x{lr_size[1]} but GT {os.path.join(hr, "img.png")} '
                f'is 529x200: at scale 4 the LR must be 132x50 (GT size / scale, rounded down)')
    with pytest.raises(DatasetError) as error:
        dataset[0]
    assert str(error.value) == expected


def test_gt_size_larger_than_image(tmp_path):
    hr = tmp_path / 'hr'
    write_image(hr / 'small.png', photo_bgr('coffee', 0, 0, 90, 250))
    with pytest.raises(DatasetError) as error:
        make_dataset(hr, gt_size=96)[0]
    assert str(error.value) == (f'{hr / "small.png"}: gt_size 96 is larger than the image '
                                '(248x88 after cropping to a multiple of scale 4)')


# ---------------------------------------------------------------- LMDB keys and meta_info
def _copy_lmdb(src, dst):
    shutil.copytree(src, dst)
    return str(dst)


def test_key_listed_in_meta_info_but_missing_from_lmdb(tmp_path, data_tree):
    gt = _copy_lmdb(data_tree.hr_lmdb, tmp_path / 'gt.lmdb')
    with open(os.path.join(gt, 'meta_info.txt'), 'a') as handle:
        handle.write('zebra.png (200,200,3) 1\n')
    # found when the dataset is built, before any training work, not mid-training
    with pytest.raises(DatasetError) as error:
        make_dataset(gt, backend='lmdb', phase='val')
    assert str(error.value) == (f"{gt}: key 'zebra' is listed in its meta_info.txt but not stored in the LMDB "
                                '(1 of 4 keys absent)')


def test_lq_lmdb_missing_a_gt_key(tmp_path, data_tree):
    lq = _copy_lmdb(data_tree.lr_lmdb, tmp_path / 'lq.lmdb')
    meta = os.path.join(lq, 'meta_info.txt')
    with open(meta) as handle:
        lines = handle.read().splitlines()
    with open(meta, 'w') as handle:
        handle.write('\n'.join(line for line in lines if not line.startswith('coffee')) + '\n')
    with pytest.raises(DatasetError) as error:
        make_dataset(data_tree.hr_lmdb, backend='lmdb', dataroot_lq=lq)
    assert str(error.value) == f"{lq}: key 'coffee' is not in its meta_info.txt (1 of 3 keys missing)"


@pytest.mark.parametrize('line', ['coffee.png (184,236) 1', 'coffee.png 184,236,3 1', 'coffee (184,236,3) 1',
                                  'coffee.png (184,236,3)', 'coffee.png (184,236,3) 1 extra'])
def test_meta_info_line_that_does_not_parse(tmp_path, data_tree, line):
    gt = _copy_lmdb(data_tree.hr_lmdb, tmp_path / 'gt.lmdb')
    meta = os.path.join(gt, 'meta_info.txt')
    with open(meta) as handle:
        lines = handle.read().splitlines()
    lines[2] = line
    with open(meta, 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
    with pytest.raises(MetaInfoError) as error:
        make_dataset(gt, backend='lmdb')
    assert str(error.value) == (f'{meta}:3: cannot parse meta_info line {line!r}, '
                                'expected "NAME.png (H,W,C) COMPRESSION"')


def test_meta_info_file_errors(tmp_path, data_tree):
    meta = tmp_path / 'meta.txt'
    meta.write_text('astronaut.png (200,248,3)\nnot valid (1,2)\n')
    with pytest.raises(MetaInfoError, match=rf'^{meta}:2: cannot parse meta_info line'):
        make_dataset(data_tree.hr, meta_info_file=str(meta))
    meta.write_text('astronaut.png\nmissing.png\n')
    with pytest.raises(DatasetError, match=rf'missing.png: GT image listed in {meta} not found'):
        make_dataset(data_tree.hr, meta_info_file=str(meta))
    with pytest.raises(MetaInfoError, match=rf'^{tmp_path / "nope.txt"}: meta_info file not found$'):
        make_dataset(data_tree.hr, meta_info_file=str(tmp_path / 'nope.txt'))


# ---------------------------------------------------------------- existing outputs
@pytest.mark.slow
def test_existing_lmdb_refused_unless_overwrite(capsys, tmp_path, data_tree):
    """A real console-script process: the refusal is one line without a traceback and the LMDB is
    untouched; with --overwrite it is replaced."""
    out = _copy_lmdb(data_tree.lr_lmdb, tmp_path / 'out.lmdb')
    before = {name: open(os.path.join(out, name), 'rb').read() for name in os.listdir(out)}
    refused = run([script('aidn'), 'prepare', 'lmdb', data_tree.hr, '-o', out])
    assert refused.returncode == 2
    assert refused.stderr.strip() == f'aidn prepare: error: {out}: already exists; pass --overwrite to replace it'
    assert {name: open(os.path.join(out, name), 'rb').read() for name in os.listdir(out)} == before
    code, stdout, _ = _cli(capsys, 'prepare', 'lmdb', data_tree.hr, '-o', out, '--overwrite', '--workers', '1')
    assert (code, stdout) == (0, f'aidn prepare lmdb: 3 images written to {out}\n')
    with open(os.path.join(out, 'meta_info.txt')) as handle:
        assert handle.readline().strip() == 'astronaut.png (200,248,3) 1'  # HR now, not LR
    assert sorted(os.listdir(tmp_path)) == ['out.lmdb']


def test_bad_lmdb_names(tmp_path):
    folder = tmp_path / 'imgs'
    write_image(folder / 'has space.png', photo_bgr('astronaut', 0, 0, 32, 32))
    with pytest.raises(PrepareError, match=r'has space.png: LMDB keys are file stems and must be ASCII'):
        make_lmdb(str(folder), str(tmp_path / 'x.lmdb'), workers=1)
    with pytest.raises(PrepareError, match=r'x.db: the output name must end in .lmdb'):
        make_lmdb(str(folder), str(tmp_path / 'x.db'), workers=1)
    assert sorted(os.listdir(tmp_path)) == ['imgs']


# ---------------------------------------------------------------- options
@pytest.mark.parametrize('change, message', [
    (dict(phase=None), "dataset option 'phase' is missing (train, val or test)"),
    (dict(dataroot_gt=None), "dataset option 'dataroot_gt' is missing"),
    (dict(scale=None), "dataset option 'scale' is missing"),
    (dict(scale=2.5), 'dataset option scale=2.5: expected a positive integer'),
    (dict(gt_size=None), "dataset option 'gt_size' is missing"),
    (dict(gt_size=66), 'dataset option gt_size=66 is not a multiple of scale=4'),
    (dict(io_backend=dict(type='memcached')), "io_backend.type='memcached': expected disk or lmdb"),
    (dict(color='ycbcr'), "color='ycbcr': expected y or rgb"),
    (dict(edge_operator='canny'), "edge_operator='canny': expected one of sobel, scharr, laplacian"),
    (dict(mean=[0.5, 0.5, 0.5]), "dataset option 'mean' is not supported"),
    (dict(filename_tmpl='x4'), "filename_tmpl='x4' must contain {}"),
    (dict(dataroot_lq='/nonexistent/lr'), 'dataroot_lq=/nonexistent/lr: folder not found'),
    (dict(dataroot_edge='E', color='y'), 'dataset options dataroot_edge and color: y do not combine'),
])
def test_bad_options(data_tree, change, message):
    opt = dataset_opt(data_tree.hr)
    for key, value in change.items():
        if value is None:
            opt.pop(key)
        else:
            opt[key] = value
    with pytest.raises(DatasetError) as error:
        EdgePairedImageDataset(opt)
    assert message in str(error.value)


def test_edge_map_of_wrong_format(tmp_path, data_tree):
    edges = tmp_path / 'edges'
    shutil.copytree(data_tree.edges, edges)
    write_image(edges / 'coffee.png', photo_bgr('coffee', 0, 0, 46, 59))  # 8-bit colour, not a map
    dataset = make_dataset(data_tree.hr, phase='val', dataroot_edge=str(edges))
    with pytest.raises(DatasetError, match=rf'^{edges / "coffee.png"}: an edge map must be a one-channel 16-bit PNG'):
        dataset[2]


# ---------------------------------------------------------------- grey, RGBA, 16 bit
def test_grey_rgba_and_16bit_sources(tmp_path):
    """Grey -> 3 equal channels; RGBA -> alpha dropped, colour kept; 16 bit -> value / 65535 exactly.
    The same on disk, in an LMDB, with on-the-fly LR and with the LR of ``aidn prepare lr``."""
    hr = tmp_path / 'hr'
    grey = photo_bgr('camera', 100, 100, 96, 128)
    colour = photo_bgr('chelsea', 0, 0, 96, 128)
    alpha = np.random.default_rng(0).integers(0, 256, colour.shape[:2], dtype=np.uint8)
    deep = (colour.astype(np.uint16) * 257 + np.random.default_rng(1).integers(0, 257, colour.shape)).astype(np.uint16)
    write_image(hr / 'grey.png', grey)
    write_image(hr / 'rgba.png', np.dstack([colour, alpha]))
    write_image(hr / 'deep.png', deep)
    make_lr(str(hr), str(tmp_path / 'lr'), scales=[SCALE], workers=1)
    lr = tmp_path / 'lr' / 'X4'
    assert cv2.imread(str(lr / 'grey.png'), cv2.IMREAD_UNCHANGED).ndim == 2  # grey LR stays grey
    assert cv2.imread(str(lr / 'rgba.png'), cv2.IMREAD_UNCHANGED).shape[2] == 3  # alpha dropped
    assert cv2.imread(str(lr / 'deep.png'), cv2.IMREAD_UNCHANGED).dtype == np.uint16  # 16-bit LR
    make_lmdb(str(hr), str(tmp_path / 'hr.lmdb'), workers=1)
    make_lmdb(str(lr), str(tmp_path / 'lr.lmdb'), workers=1)

    expected_gt = {
        'grey': np.repeat(grey[..., None], 3, axis=2).astype(np.float32) / 255,
        'rgba': colour.astype(np.float32) / 255,
        'deep': deep.astype(np.float32) / 65535,
    }
    datasets = [make_dataset(hr, phase='val'), make_dataset(hr, phase='val', dataroot_lq=str(lr)),
                make_dataset(tmp_path / 'hr.lmdb', phase='val', backend='lmdb'),
                make_dataset(tmp_path / 'hr.lmdb', phase='val', backend='lmdb', dataroot_lq=str(tmp_path / 'lr.lmdb'))]
    for index, name in enumerate(['deep', 'grey', 'rgba']):
        bgr = expected_gt[name]
        gt = torch.from_numpy(bgr[:, :, ::-1].transpose(2, 0, 1).copy())
        source = {'grey': np.repeat(grey[..., None], 3, axis=2), 'rgba': colour, 'deep': deep}[name]
        low = bicubic_downscale(source, SCALE)
        lq = torch.from_numpy((low.astype(np.float32) / image_io.max_value(low))[:, :, ::-1].transpose(2, 0, 1).copy())
        for dataset in datasets:
            out = dataset[index]
            assert torch.equal(out['gt'], gt), name
            assert torch.equal(out['lq'], lq), name
        if name == 'grey':
            assert torch.equal(out['lq'][0], out['lq'][1]) and torch.equal(out['lq'][1], out['lq'][2])
        if name == 'deep':  # finer than 8 bits: not a multiple of 1/255
            assert not torch.equal(out['gt'], torch.round(out['gt'] * 255) / 255)
