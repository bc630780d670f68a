"""``EdgePairedImageDataset``: BasicSR's paired SR dataset plus the edge image AIDN takes as a second input."""
import os
import random

import numpy as np
from torch.utils import data as data

from basicsr.data.transforms import augment
from basicsr.utils import FileClient, bgr2ycbcr, img2tensor
from basicsr.utils.registry import DATASET_REGISTRY

from aidn_plugin.utils import image_io
from aidn_plugin.data.lmdb_client import LmdbClient, stored_keys
from aidn_plugin.utils.meta_info import lmdb_keys, read_meta_info
from aidn_plugin.edges import EDGE_OPERATORS, check_edge_png, decode_edge_png, edge_map
from aidn_plugin.utils.bicubic import bicubic_downscale

# LR pixels of HR context kept around a training crop before the on-the-fly downscale. The antialiased
# cubic kernel reaches 2 LR pixels; with 3 the crop's LR equals that window of the whole image's LR.
_LR_MARGIN = 3


class DatasetError(ValueError):
    """A dataset option or file that cannot be used; the message names the option, file or key."""


@DATASET_REGISTRY.register()
class EdgePairedImageDataset(data.Dataset):
    """Paired LR/HR images and the edge image of the LR, for AIDN (a drop-in for BasicSR's PairedImageDataset).

    Each sample is a dict:

    * ``lq``: LR image, float32 [C, h, w] in [0, 1], RGB (C = 3) or Y (C = 1 with ``color: y``);
    * ``gt``: HR image, float32 [C, h * scale, w * scale], same colour handling;
    * ``edge``: float32 [1, h, w] in [0, 1]: ``aidn_plugin.edges.edge_map(lq, edge_operator)`` of the
      returned (cropped, flipped, rotated) ``lq``, or the precomputed map of ``dataroot_edge`` put
      through the same crop, flips and rotation;
    * ``gt_edge`` (only with ``gt_edge: true``): float32 [1, h * scale, w * scale], the edge map of the
      returned ``gt``;
    * ``lq_path``, ``gt_path``: file paths (``disk``) or LMDB keys (``lmdb``). With on-the-fly LR,
      ``lq_path`` is the GT path.

    Options (BasicSR naming; BasicSR fills in ``phase`` and ``scale`` from the option file):
        dataroot_gt (str): HR images: a folder (``disk``) or a ``.lmdb`` folder (``lmdb``). Required.
        dataroot_lq (str, optional): LR images, same backend. Absent or null: the LR is made on the fly
            from the GT, cropped to a multiple of ``scale``, with MATLAB-style bicubic
            (``aidn_plugin.utils.bicubic``, the same function ``aidn prepare lr`` uses, so both give the
            same pixels).
        dataroot_edge (str, optional): precomputed edge maps (``aidn prepare edges``), same backend:
            one-channel 16-bit PNGs of the LR size, value = round(edge * 65535). Absent or null: computed
            from the returned ``lq``. Not combinable with ``color: y``.
        meta_info_file (str, optional): a text file whose lines start with the GT file names (BasicSR's
            ``meta_info`` format, ``NAME.png [(H,W,C) [COMPRESSION]]``); it selects and orders the samples.
            Default: every image in ``dataroot_gt`` (``disk``, sorted by name) or every key of its
            ``meta_info.txt`` (``lmdb``, sorted).
        filename_tmpl (str): LR (and edge) file name from the GT file stem, e.g. ``'{}x4'``; the
            extension is the GT's, else ``.png`` (what ``aidn prepare lr`` writes; edge maps: ``.png``).
            ``disk`` only: LMDB entries share their key.
            Default ``'{}'``.
        io_backend (dict): ``{type: disk}`` (BasicSR's ``FileClient``) or ``{type: lmdb}`` (further keys,
            e.g. ``readahead``, go to ``lmdb.open``). The client opens lazily in ``__getitem__``, so each
            DataLoader worker process opens its own handles; datasets of one process share an LMDB
            handle (``aidn_plugin.data.lmdb_client``), so two of them may read the same LMDB.
        gt_size (int): HR crop size in ``train``; a multiple of ``scale``. Required for ``train``.
        use_hflip (bool): random horizontal flips in ``train``. Default False.
        use_rot (bool): random vertical flips and transpositions (rotations by 90 degrees) in ``train``.
            Default False.
        scale (int): upscale factor. Required.
        phase (str): ``train``: random crop of ``gt_size`` and augmentation; anything else (``val``,
            ``test``): whole images. Required.
        color (str, optional): ``y`` returns the BT.601 Y channel (BasicSR's ``bgr2ycbcr``, 16..235
            range) of lq and gt, one channel each; the edge is then that of the Y image. Default: RGB.
        edge_operator (str): ``sobel`` (default), ``scharr`` or ``laplacian`` (``aidn_plugin.edges``).
        gt_edge (bool): also return ``gt_edge``, float32 [1, H, W]: the edge map of the returned ``gt``
            (same operator), for edge-aware training losses. Default False.

    Sizes (both phases): an LR must be ``floor(GT / scale)`` in each dimension; the GT is then cropped to
    LR * scale (the benchmark convention: Set14's 529-pixel-wide ppt3 has a 132-pixel LR at x4). Any
    other pair is an error naming both files and sizes. A ``gt_size`` larger than an image is an error.

    Images: grey is replicated to 3 channels, an alpha channel is dropped (RGB values kept), 16-bit
    images are scaled to [0, 1] exactly (divided by 65535); see ``aidn_plugin.utils.image_io``.
    ``mean`` / ``std`` normalisation is not supported (AIDN normalises internally).
    """

    def __init__(self, opt):
        super().__init__()
        self.opt = opt
        self.scale = _positive_int(opt, 'scale')
        if 'phase' not in opt:
            raise DatasetError("dataset option 'phase' is missing (train, val or test)")
        self.phase = opt['phase']
        self.train = self.phase == 'train'
        self.gt_size = None
        if self.train:
            self.gt_size = _positive_int(opt, 'gt_size')
            if self.gt_size % self.scale:
                raise DatasetError(f'dataset option gt_size={self.gt_size} is not a multiple of scale={self.scale}')
        self.use_hflip = bool(opt.get('use_hflip', False))
        self.use_rot = bool(opt.get('use_rot', False))
        self.color = opt.get('color')
        if self.color not in (None, 'rgb', 'y'):
            raise DatasetError(f'dataset option color={self.color!r}: expected y or rgb (or no key)')
        self.gt_edge = opt.get('gt_edge', False)
        if not isinstance(self.gt_edge, bool):
            raise DatasetError(f'dataset option gt_edge={self.gt_edge!r}: expected true or false')
        self.edge_operator = opt.get('edge_operator', 'sobel')
        if self.edge_operator not in EDGE_OPERATORS:
            raise DatasetError(f'dataset option edge_operator={self.edge_operator!r}: expected one of '
                               f'{", ".join(EDGE_OPERATORS)}')
        for key in ('mean', 'std'):
            if opt.get(key) is not None:
                raise DatasetError(f'dataset option {key!r} is not supported (AIDN normalises its input itself)')
        self.filename_tmpl = opt.get('filename_tmpl') or '{}'
        if '{}' not in self.filename_tmpl:
            raise DatasetError(f'dataset option filename_tmpl={self.filename_tmpl!r} must contain {{}}')

        if 'dataroot_gt' not in opt or not opt['dataroot_gt']:
            raise DatasetError("dataset option 'dataroot_gt' is missing")
        self.gt_root = str(opt['dataroot_gt'])
        self.lq_root = str(opt['dataroot_lq']) if opt.get('dataroot_lq') else None
        self.edge_root = str(opt['dataroot_edge']) if opt.get('dataroot_edge') else None
        if self.edge_root and self.color == 'y':
            raise DatasetError('dataset options dataroot_edge and color: y do not combine: the precomputed '
                               'edge maps are those of the RGB LR; drop one of them')

        backend = dict(opt.get('io_backend') or {})
        self.backend = backend.pop('type', None)
        if self.backend not in ('disk', 'lmdb'):
            raise DatasetError(f'dataset option io_backend.type={self.backend!r}: expected disk or lmdb')
        self.roots = {'gt': self.gt_root}
        if self.lq_root:
            self.roots['lq'] = self.lq_root
        if self.edge_root:
            self.roots['edge'] = self.edge_root
        if self.backend == 'lmdb':
            backend['db_paths'] = list(self.roots.values())
            backend['client_keys'] = list(self.roots.keys())
        self.file_client_opt = backend
        self.file_client = None  # opened in __getitem__: one per worker process

        self.paths = self._lmdb_paths() if self.backend == 'lmdb' else self._disk_paths()

    # ----------------------------------------------------------------- index
    def _gt_names(self):
        meta = self.opt.get('meta_info_file')
        if meta:
            return [name for name, _ in read_meta_info(meta)]
        return None

    def _lmdb_paths(self):
        for key, root in self.roots.items():
            if not root.endswith('.lmdb'):
                raise DatasetError(f'dataroot_{key}={root}: io_backend lmdb needs a folder whose name ends in .lmdb')
        names = self._gt_names()
        gt_keys = lmdb_keys(self.gt_root)
        keys = sorted(gt_keys) if names is None else [os.path.splitext(os.path.basename(n))[0] for n in names]
        for key, root in self.roots.items():
            available = set(gt_keys) if key == 'gt' else set(lmdb_keys(root))
            missing = [k for k in keys if k not in available]
            if missing:
                raise DatasetError(f'{root}: key {missing[0]!r} is not in its meta_info.txt '
                                   f'({len(missing)} of {len(keys)} keys missing)')
            # meta_info.txt can list keys the LMDB does not hold (an interrupted or edited build): find out
            # now, in one line, rather than mid-training with a traceback
            stored = stored_keys(root, **{k: v for k, v in self.file_client_opt.items()
                                          if k not in ('db_paths', 'client_keys')})
            absent = [k for k in keys if k not in stored]
            if absent:
                raise DatasetError(f'{root}: key {absent[0]!r} is listed in its meta_info.txt but not stored in '
                                   f'the LMDB ({len(absent)} of {len(keys)} keys absent)')
        return [dict(gt=k, lq=k if self.lq_root else None, edge=k if self.edge_root else None) for k in keys]

    def _disk_paths(self):
        for key, root in self.roots.items():
            if not os.path.isdir(root):
                raise DatasetError(f'dataroot_{key}={root}: folder not found')
        names = self._gt_names()
        if names is None:
            names = image_io.list_images(self.gt_root)
            if not names:
                raise DatasetError(f'dataroot_gt={self.gt_root}: no images in this folder')
        paths, stems = [], {}
        for name in names:
            stem, ext = os.path.splitext(os.path.basename(name))
            if stem in stems:
                raise DatasetError(f'{self.gt_root}: {stems[stem]} and {name} have the same stem {stem!r}')
            stems[stem] = name
            entry = dict(gt=os.path.join(self.gt_root, name), lq=None, edge=None)
            if not os.path.isfile(entry['gt']):
                raise DatasetError(f'{entry["gt"]}: GT image listed in {self.opt.get("meta_info_file")} not found')
            lr_stem = self.filename_tmpl.format(stem)
            if self.lq_root:
                entry['lq'] = os.path.join(self.lq_root, os.path.dirname(name), lr_stem + ext)
                if not os.path.isfile(entry['lq']) and ext.lower() != '.png':
                    entry['lq'] = os.path.join(self.lq_root, os.path.dirname(name), lr_stem + '.png')
                if not os.path.isfile(entry['lq']):
                    raise DatasetError(f'{entry["lq"]}: LR image for {entry["gt"]} not found '
                                       f'(filename_tmpl={self.filename_tmpl!r})')
            if self.edge_root:
                entry['edge'] = os.path.join(self.edge_root, os.path.dirname(name), lr_stem + '.png')
                if not os.path.isfile(entry['edge']):
                    raise DatasetError(f'{entry["edge"]}: edge map for {entry["gt"]} not found')
            paths.append(entry)
        return paths

    # ----------------------------------------------------------------- reading
    def _get(self, path, key):
        if self.backend == 'lmdb':
            content = self.file_client.get(path, key)
            if content is None:
                raise DatasetError(f'{self.roots[key]}: key {path!r} is listed in meta_info.txt but not stored '
                                   f'in the LMDB')
            return content, f'{self.roots[key]}[{path}]'
        return self.file_client.get(path), path

    def _read_image(self, path, key):
        content, name = self._get(path, key)
        return image_io.decode(content, name)

    def _read_edge(self, path, shape):
        content, name = self._get(path, 'edge')
        edge = image_io.decode_stored(content, name)
        try:
            check_edge_png(edge, name)
        except ValueError as error:
            raise DatasetError(str(error)) from None
        if edge.shape != shape:
            raise DatasetError(f'{name}: edge map is {edge.shape[1]}x{edge.shape[0]}, the LR is {shape[1]}x{shape[0]}')
        return edge

    # ----------------------------------------------------------------- sample
    def __getitem__(self, index):
        if self.file_client is None:
            if self.backend == 'lmdb':
                self.file_client = LmdbClient(**self.file_client_opt)
            else:
                self.file_client = FileClient(self.backend, **self.file_client_opt)
        entry = self.paths[index]
        scale = self.scale
        gt = self._read_image(entry['gt'], 'gt')
        lq = None
        if entry['lq'] is not None:
            lq = self._read_image(entry['lq'], 'lq')
            h_gt, w_gt = gt.shape[:2]
            h_lq, w_lq = lq.shape[:2]
            if (h_lq, w_lq) != (h_gt // scale, w_gt // scale) or h_lq == 0 or w_lq == 0:
                raise DatasetError(
                    f'LR {self._name(entry, "lq")} is {w_lq}x{h_lq} but GT {self._name(entry, "gt")} is {w_gt}x{h_gt}: '
                    f'at scale {scale} the LR must be {w_gt // scale}x{h_gt // scale} (GT size / scale, rounded down)')
        h_lq, w_lq = gt.shape[0] // scale, gt.shape[1] // scale
        if h_lq == 0 or w_lq == 0:
            raise DatasetError(f'{self._name(entry, "gt")}: GT {gt.shape[1]}x{gt.shape[0]} is smaller than '
                               f'scale {scale}')
        gt = gt[:h_lq * scale, :w_lq * scale]  # the benchmark convention: GT mod-cropped to LR * scale
        edge = self._read_edge(entry['edge'], (h_lq, w_lq)) if entry['edge'] is not None else None

        if self.train:
            gt, lq, edge = self._random_crop(entry, gt, lq, edge, h_lq, w_lq)
            gt, lq, edge = self._augment(gt, lq, edge)
        elif lq is None:
            lq = bicubic_downscale(gt, scale)

        img_gt, img_lq = image_io.to_float(gt), image_io.to_float(lq)
        if self.color == 'y':
            img_gt = bgr2ycbcr(img_gt, y_only=True)[..., None]
            img_lq = bgr2ycbcr(img_lq, y_only=True)[..., None]
        img_gt, img_lq = img2tensor([img_gt, img_lq], bgr2rgb=True, float32=True)
        if edge is None:
            edge_t = edge_map(img_lq, self.edge_operator)
        else:
            edge_t = decode_edge_png(edge)
        lq_path = entry['lq'] if entry['lq'] is not None else entry['gt']
        sample = {'lq': img_lq, 'gt': img_gt, 'edge': edge_t, 'lq_path': lq_path, 'gt_path': entry['gt']}
        if self.gt_edge:
            # computed from the returned (cropped, augmented) gt, so disk and LMDB give the same map
            sample['gt_edge'] = edge_map(img_gt, self.edge_operator)
        return sample

    def _name(self, entry, key):
        return f'{self.roots[key]}[{entry[key]}]' if self.backend == 'lmdb' else entry[key]

    def _random_crop(self, entry, gt, lq, edge, h_lq, w_lq):
        """Crop gt_size (GT) and gt_size / scale (LR, edge) at one random place, as BasicSR's
        paired_random_crop draws it (top, then left, with ``random.randint``)."""
        scale, size = self.scale, self.gt_size // self.scale
        if h_lq < size or w_lq < size:
            raise DatasetError(f'{self._name(entry, "gt")}: gt_size {self.gt_size} is larger than the image '
                               f'({w_lq * scale}x{h_lq * scale} after cropping to a multiple of scale {scale})')
        top = random.randint(0, h_lq - size)
        left = random.randint(0, w_lq - size)
        gt_crop = gt[top * scale:(top + size) * scale, left * scale:(left + size) * scale]
        if lq is not None:
            lq = lq[top:top + size, left:left + size]
        else:
            # Downscale the crop with a margin of HR context: equal to the crop of the whole image's LR.
            y0, x0 = max(0, top - _LR_MARGIN), max(0, left - _LR_MARGIN)
            y1, x1 = min(h_lq, top + size + _LR_MARGIN), min(w_lq, left + size + _LR_MARGIN)
            window = bicubic_downscale(gt[y0 * scale:y1 * scale, x0 * scale:x1 * scale], scale)
            lq = window[top - y0:top - y0 + size, left - x0:left - x0 + size]
        if edge is not None:
            edge = edge[top:top + size, left:left + size]
        return gt_crop, lq, edge

    def _augment(self, gt, lq, edge):
        # BasicSR's augment flips in place: hand it contiguous copies, never views of a decoded image.
        images = [np.ascontiguousarray(gt), np.ascontiguousarray(lq)]
        if edge is not None:
            images.append(np.ascontiguousarray(edge)[..., None])
        images = augment(images, self.use_hflip, self.use_rot)
        gt, lq = images[0], images[1]
        edge = images[2][..., 0] if edge is not None else None
        return gt, lq, edge

    def __len__(self):
        return len(self.paths)


def _positive_int(opt, key):
    if key not in opt or opt[key] is None:
        raise DatasetError(f'dataset option {key!r} is missing')
    value = opt[key]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DatasetError(f'dataset option {key}={value!r}: expected a positive integer')
    return int(value)


__all__ = ['DatasetError', 'EdgePairedImageDataset']
