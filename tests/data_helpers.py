"""Shared builders for the data tests: small image folders made from scikit-image photographs, their
bicubic LR, LMDBs and edge maps, written by the real ``aidn prepare`` code."""
import os

import cv2
import numpy as np
import pytest

SCALE = 4


def photo_bgr(name, top=0, left=0, height=None, width=None):
    """A crop of a scikit-image photograph: BGR uint8 (H x W x 3), or H x W for a grey one (camera)."""
    from skimage import data
    img = getattr(data, name)()
    height = height or img.shape[0] - top
    width = width or img.shape[1] - left
    img = img[top:top + height, left:left + width]
    return np.ascontiguousarray(img[..., ::-1] if img.ndim == 3 else img)


def write_image(path, img):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise OSError(f'could not write {path}')
    return str(path)


def dataset_opt(gt, phase='train', backend='disk', **extra):
    opt = dict(name='test', type='EdgePairedImageDataset', dataroot_gt=str(gt), io_backend=dict(type=backend),
               scale=SCALE, phase=phase)
    if phase == 'train':
        opt.update(gt_size=64, use_hflip=True, use_rot=True)
    opt.update(extra)
    return opt


def make_dataset(gt, phase='train', backend='disk', **extra):
    from aidn_plugin.data import EdgePairedImageDataset
    return EdgePairedImageDataset(dataset_opt(gt, phase, backend, **extra))


def sample(dataset, index, seed):
    """One sample drawn after seeding ``random`` as BasicSR's worker_init_fn does."""
    import random
    random.seed(seed)
    return dataset[index]


class DataTree:
    """HR photos (sizes multiples of 4, plus one that is not), their LR x4, edges and LMDBs."""

    def __init__(self, root):
        from aidn_plugin.prepare.edge_maps import make_edges
        from aidn_plugin.prepare.lmdb_writer import make_lmdb
        from aidn_plugin.prepare.lr import make_lr
        self.root = str(root)
        self.hr = os.path.join(self.root, 'HR')
        # Sizes that are multiples of 4 (BasicSR's PairedImageDataset accepts those in train)...
        write_image(os.path.join(self.hr, 'astronaut.png'), photo_bgr('astronaut', 40, 120, 200, 248))
        write_image(os.path.join(self.hr, 'coffee.png'), photo_bgr('coffee', 60, 150, 184, 236))
        # ... and one that is not (301 x 229: mod-cropped to 300 x 228).
        write_image(os.path.join(self.hr, 'chelsea.png'), photo_bgr('chelsea', 0, 100, 229, 301))
        self.names = ['astronaut', 'chelsea', 'coffee']
        self.multiple_meta = os.path.join(self.root, 'meta_multiple.txt')
        with open(self.multiple_meta, 'w') as handle:
            handle.write('astronaut.png (200,248,3)\ncoffee.png (184,236,3)\n')
        make_lr(self.hr, os.path.join(self.root, 'LR'), scales=[SCALE], workers=1)
        self.lr = os.path.join(self.root, 'LR', f'X{SCALE}')
        self.edges = os.path.join(self.root, 'edges')
        make_edges(self.lr, self.edges, workers=1)
        self.hr_lmdb = os.path.join(self.root, 'hr.lmdb')
        self.lr_lmdb = os.path.join(self.root, 'lr.lmdb')
        self.edges_lmdb = os.path.join(self.root, 'edges.lmdb')
        make_lmdb(self.hr, self.hr_lmdb, workers=1)
        make_lmdb(self.lr, self.lr_lmdb, workers=1)
        make_lmdb(self.edges, self.edges_lmdb, workers=1)

    def roots(self, backend):
        if backend == 'lmdb':
            return dict(gt=self.hr_lmdb, lq=self.lr_lmdb, edge=self.edges_lmdb)
        return dict(gt=self.hr, lq=self.lr, edge=self.edges)


@pytest.fixture(scope='session')
def data_tree(tmp_path_factory):
    import aidn_plugin  # noqa: F401
    return DataTree(tmp_path_factory.mktemp('data_tree'))
