"""EdgePairedImageDataset: BasicSR compatibility, disk == LMDB, on-the-fly LR == ``aidn prepare lr``,
edge maps aligned with lq after crop/flip/rotation, worker processes."""
import os

import numpy as np
import pytest
import torch

from aidn_plugin.utils import image_io
from aidn_plugin.edges import edge_map
from aidn_plugin.utils.bicubic import bicubic_downscale
from data_helpers import SCALE, data_tree, dataset_opt, make_dataset, sample  # noqa: F401  (fixture)

SEEDS = range(6)


def _lmdb_or_disk(tree, backend, lq=True, edge=False, **extra):
    roots = tree.roots(backend)
    kwargs = dict(extra)
    if lq:
        kwargs['dataroot_lq'] = roots['lq']
    if edge:
        kwargs['dataroot_edge'] = roots['edge']
    return make_dataset(roots['gt'], backend=backend, **kwargs)


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in ('lq', 'gt', 'edge'):
        assert a[key].shape == b[key].shape, key
        assert torch.equal(a[key], b[key]), key


def test_built_by_basicsr_registry(data_tree):
    from basicsr.data import build_dataset
    dataset = build_dataset(dataset_opt(data_tree.hr, dataroot_lq=data_tree.lr))
    assert type(dataset).__name__ == 'EdgePairedImageDataset'
    assert len(dataset) == 3
    out = sample(dataset, 0, 0)
    assert set(out) == {'lq', 'gt', 'edge', 'lq_path', 'gt_path'}
    assert out['gt'].shape == (3, 64, 64) and out['lq'].shape == (3, 16, 16) and out['edge'].shape == (1, 16, 16)
    for key in ('lq', 'gt', 'edge'):
        assert out[key].dtype == torch.float32
        assert 0 <= float(out[key].min()) and float(out[key].max()) <= 1
    assert out['gt_path'] == os.path.join(data_tree.hr, 'astronaut.png')
    assert out['lq_path'] == os.path.join(data_tree.lr, 'astronaut.png')
    assert dataset.file_client is not None  # opened lazily by the first __getitem__


@pytest.mark.parametrize('phase', ['train', 'val'])
@pytest.mark.parametrize('lq', [True, False], ids=['lr-files', 'lr-on-the-fly'])
def test_disk_and_lmdb_give_identical_samples(data_tree, phase, lq):
    disk = _lmdb_or_disk(data_tree, 'disk', lq=lq, phase=phase)
    lmdb = _lmdb_or_disk(data_tree, 'lmdb', lq=lq, phase=phase)
    assert len(disk) == len(lmdb) == 3
    for index in range(3):
        for seed in (SEEDS if phase == 'train' else [0]):
            a, b = sample(disk, index, seed), sample(lmdb, index, seed)
            _assert_same(a, b)
            assert b['gt_path'] == data_tree.names[index]  # LMDB: the key


def test_precomputed_edges_disk_and_lmdb_identical(data_tree):
    disk = _lmdb_or_disk(data_tree, 'disk', edge=True)
    lmdb = _lmdb_or_disk(data_tree, 'lmdb', edge=True)
    for index in range(3):
        for seed in SEEDS:
            _assert_same(sample(disk, index, seed), sample(lmdb, index, seed))


def test_train_samples_equal_basicsr_paired_dataset(data_tree):
    """Same seed, same crop, flips and rotation as BasicSR's PairedImageDataset reading the files that
    ``aidn prepare lr`` wrote; the on-the-fly LR gives the very same lq."""
    from basicsr.data.paired_image_dataset import PairedImageDataset
    opt = dataset_opt(data_tree.hr, dataroot_lq=data_tree.lr, meta_info_file=data_tree.multiple_meta)
    theirs = PairedImageDataset(dict(opt))
    ours_files = make_dataset(data_tree.hr, dataroot_lq=data_tree.lr, meta_info_file=data_tree.multiple_meta)
    ours_fly = make_dataset(data_tree.hr, meta_info_file=data_tree.multiple_meta)
    unaugmented = make_dataset(data_tree.hr, meta_info_file=data_tree.multiple_meta, use_hflip=False, use_rot=False)
    flipped = 0
    for index in range(2):
        for seed in range(10):
            ref = sample(theirs, index, seed)
            for ours in (ours_files, ours_fly):
                out = sample(ours, index, seed)
                assert torch.equal(out['gt'], ref['gt']) and torch.equal(out['lq'], ref['lq'])
            flipped += not torch.equal(ref['gt'], sample(unaugmented, index, seed)['gt'])
    assert flipped > 0  # the comparison did exercise flips/rotations


@pytest.mark.parametrize('lq', [True, False], ids=['lr-files', 'lr-on-the-fly'])
def test_val_lq_equals_prepare_lr_output_and_gt_is_mod_cropped(data_tree, lq):
    dataset = _lmdb_or_disk(data_tree, 'disk', lq=lq, phase='val')
    for index, name in enumerate(data_tree.names):
        out = dataset[index]
        lr = image_io.read(os.path.join(data_tree.lr, f'{name}.png'))
        hr = image_io.read(os.path.join(data_tree.hr, f'{name}.png'))
        h, w = lr.shape[:2]
        assert out['lq'].shape == (3, h, w)
        expected_lq = torch.from_numpy(image_io.to_float(lr[:, :, ::-1]).transpose(2, 0, 1).copy())
        assert torch.equal(out['lq'], expected_lq)
        expected_gt = torch.from_numpy(image_io.to_float(hr[:h * SCALE, :w * SCALE, ::-1]).transpose(2, 0, 1).copy())
        assert torch.equal(out['gt'], expected_gt)
    assert dataset[1]['gt'].shape == (3, 228, 300)  # chelsea 301 x 229, mod-cropped


@pytest.mark.parametrize('operator', ['sobel', 'laplacian'])
def test_edge_is_edge_map_of_returned_lq_after_crop_flip_rotation(data_tree, operator):
    dataset = make_dataset(data_tree.hr, edge_operator=operator)
    for index in range(3):
        for seed in SEEDS:
            out = sample(dataset, index, seed)
            assert out['edge'].shape == (1, ) + out['lq'].shape[1:]
            assert torch.allclose(out['edge'], edge_map(out['lq'], operator), rtol=0, atol=1e-6)


def test_precomputed_edges_follow_crop_flip_rotation(data_tree):
    """Precomputed maps (of the whole LR) are cropped and augmented with lq: away from the crop border
    (where the whole image has real neighbours) they equal the edge of the returned lq, to 16-bit rounding."""
    for backend in ('disk', 'lmdb'):
        dataset = _lmdb_or_disk(data_tree, backend, edge=True)
        for index in range(3):
            for seed in SEEDS:
                out = sample(dataset, index, seed)
                recomputed = edge_map(out['lq'])
                inner = (slice(None), slice(1, -1), slice(1, -1))
                diff = (out['edge'][inner] - recomputed[inner]).abs().max()
                assert diff <= 0.5 / 65535 + 1e-6
    # and a map that did not follow the augmentation would not match:
    out = sample(dataset, 0, 1)
    assert (out['edge'] - edge_map(out['lq'].flip(-1))).abs().max() > 0.01


def _undo_augment(img, hflip, vflip, rot90):
    """Inverse of basicsr.data.transforms.augment on an H x W x C array."""
    if rot90:
        img = img.transpose(1, 0, 2)
    if vflip:
        img = img[::-1]
    if hflip:
        img = img[:, ::-1]
    return np.ascontiguousarray(img)


def test_on_the_fly_lq_is_bicubic_downscale_of_gt(data_tree):
    """Undoing the augmentation that was drawn, lq is exactly the MATLAB-style downscale of gt (away from
    the crop border, where the crop alone lacks the context the whole image had)."""
    import itertools
    dataset = make_dataset(data_tree.hr)
    inner = (slice(2, -2), slice(2, -2))
    undone = set()
    for index in range(3):
        for seed in SEEDS:
            out = sample(dataset, index, seed)
            gt = np.round(out['gt'].numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
            lq = np.round(out['lq'].numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
            matches = [flags for flags in itertools.product((False, True), repeat=3)
                       if np.array_equal(bicubic_downscale(_undo_augment(gt, *flags), SCALE)[inner],
                                         _undo_augment(lq, *flags)[inner])]
            assert matches, f'sample {index} seed {seed}: lq is not the downscale of gt in any orientation'
            undone.update(matches)
    assert len(undone) > 2  # several different augmentations were drawn and undone


def test_color_y(data_tree):
    from basicsr.utils.color_util import rgb2ycbcr_pt
    rgb = make_dataset(data_tree.hr, dataroot_lq=data_tree.lr)
    y = make_dataset(data_tree.hr, dataroot_lq=data_tree.lr, color='y')
    for seed in SEEDS[:3]:
        a, b = sample(rgb, 0, seed), sample(y, 0, seed)
        assert b['lq'].shape == (1, 16, 16) and b['gt'].shape == (1, 64, 64)
        assert torch.allclose(b['gt'], rgb2ycbcr_pt(a['gt'][None], y_only=True)[0], atol=1e-5)
        assert torch.allclose(b['edge'], edge_map(b['lq']), atol=1e-6)


def test_basicsr_dataloader_with_two_workers(data_tree):
    """BasicSR's own build_dataloader, EnlargedSampler and CPU prefetcher, LMDB, 2 worker processes."""
    from basicsr.data import build_dataloader
    from basicsr.data.data_sampler import EnlargedSampler
    from basicsr.data.prefetch_dataloader import CPUPrefetcher
    opt = dataset_opt(data_tree.hr_lmdb, backend='lmdb', dataroot_lq=data_tree.lr_lmdb, num_worker_per_gpu=2,
                      batch_size_per_gpu=4, gt_size=32)
    dataset = make_dataset(data_tree.hr_lmdb, backend='lmdb', dataroot_lq=data_tree.lr_lmdb, gt_size=32)
    # A second dataset on the same LMDB read in this process first (as BasicSR's validation would):
    # py-lmdb allows one handle per folder per process, and forked workers must open their own.
    validation = make_dataset(data_tree.hr_lmdb, backend='lmdb', dataroot_lq=data_tree.lr_lmdb, phase='val')
    assert validation[0]['gt'].shape == (3, 200, 248)
    sampler = EnlargedSampler(dataset, num_replicas=1, rank=0, ratio=4)
    loader = build_dataloader(dataset, opt, num_gpu=0, dist=False, sampler=sampler, seed=0)
    prefetcher = CPUPrefetcher(loader)
    batches = []
    batch = prefetcher.next()
    while batch is not None:
        batches.append(batch)
        batch = prefetcher.next()
    assert len(batches) == 3  # 3 images x ratio 4 / batch 4
    for batch in batches:
        assert batch['lq'].shape == (4, 3, 8, 8) and batch['gt'].shape == (4, 3, 32, 32)
        assert batch['edge'].shape == (4, 1, 8, 8)
        assert torch.allclose(batch['edge'], edge_map(batch['lq']), atol=1e-6)
        assert set(batch['gt_path']) <= set(data_tree.names)
    assert dataset.file_client is None  # only the worker processes opened the LMDB
    crops = torch.cat([b['gt'] for b in batches])
    assert len({c.sum().item() for c in crops}) > 6  # workers draw different crops


@pytest.mark.parametrize('phase', ['train', 'val'])
def test_gt_edge_is_the_edge_of_the_returned_gt_on_disk_and_lmdb(data_tree, phase):
    """``gt_edge: true`` adds the HR edge map (for edge-aware losses): that of the cropped, flipped and
    rotated gt, identical from disk and LMDB; without the option the sample has no such key."""
    disk = _lmdb_or_disk(data_tree, 'disk', phase=phase, gt_edge=True, edge_operator='scharr')
    lmdb = _lmdb_or_disk(data_tree, 'lmdb', phase=phase, gt_edge=True, edge_operator='scharr')
    for seed in (SEEDS if phase == 'train' else [0]):
        a, b = sample(disk, 1, seed), sample(lmdb, 1, seed)
        assert a['gt_edge'].shape == (1, ) + a['gt'].shape[1:]
        assert torch.equal(a['gt_edge'], edge_map(a['gt'], 'scharr')) and a['gt_edge'].max() > 0
        assert torch.equal(a['gt_edge'], b['gt_edge'])
    assert 'gt_edge' not in sample(_lmdb_or_disk(data_tree, 'disk', phase=phase), 1, 0)


def test_gt_edge_must_be_a_boolean(data_tree):
    from aidn_plugin.data.edge_paired_image_dataset import DatasetError
    with pytest.raises(DatasetError, match="gt_edge='yes': expected true or false"):
        make_dataset(data_tree.hr, gt_edge='yes')
