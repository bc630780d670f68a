"""Option-file checks that stop ``basicsr train`` / ``basicsr test`` before any work: every missing path in one
line, the scale checked against the scales AIDN supports (the architecture's own list), and every
validation / test set built, so that an unusable one is one line, not a traceback mid-run."""
import os
import shutil

import pytest

from aidn_plugin.archs.aidn_arch import SUPPORTED_SCALES
from aidn_plugin.cli.basicsr_cli import main as basicsr_main
from data_helpers import data_tree  # noqa: F401  (fixture)
from test_training import _bad_run, write_options


def test_every_missing_path_is_reported_at_once(tmp_path, capsys):
    def mutate(opt):
        opt['datasets']['train'].update(dataroot_gt='nowhere/HR', meta_info_file='nowhere/meta_info.txt')
        opt['datasets']['val'].update(dataroot_lq='nowhere/LR')
    err = _bad_run(tmp_path, capsys, mutate)
    assert err == ('basicsr train: error: opt.yml: 3 paths do not exist: datasets.train.dataroot_gt (nowhere/HR); '
                   'datasets.train.meta_info_file (nowhere/meta_info.txt); datasets.val.dataroot_lq (nowhere/LR)')


@pytest.mark.parametrize('scale', [1, 5, 8])
def test_a_scale_aidn_does_not_support_is_refused_in_one_line(tmp_path, capsys, scale):
    assert scale not in SUPPORTED_SCALES
    err = _bad_run(tmp_path, capsys, lambda opt: (opt.update(scale=scale), opt['network_g'].update(upscale=scale)))
    assert err == (f'basicsr train: error: opt.yml: scale is {scale}; AIDN supports the scales '
                   f'{", ".join(map(str, SUPPORTED_SCALES))}')


def test_a_validation_lmdb_missing_a_listed_key_is_one_line_before_training(tmp_path, capsys, data_tree):
    """Found by building the validation set in the checks, not by a traceback at the first validation."""
    val_gt = tmp_path / 'val_gt.lmdb'
    shutil.copytree(data_tree.hr_lmdb, val_gt)
    with open(val_gt / 'meta_info.txt', 'a') as handle:
        handle.write('zebra.png (200,200,3) 1\n')

    def mutate(opt):
        opt['datasets']['val'].update(dataroot_gt=str(val_gt), io_backend={'type': 'lmdb'})
    err = _bad_run(tmp_path, capsys, mutate)
    assert err == (f"basicsr train: error: opt.yml: datasets.val could not be built: {val_gt}: key 'zebra' is listed "
                   'in its meta_info.txt but not stored in the LMDB (1 of 4 keys absent)')


def test_an_unknown_dataset_type_in_a_test_set_is_one_line(tmp_path, capsys):
    ckpt = tmp_path / 'net.pth'
    ckpt.write_bytes(b'')
    write_options(tmp_path, {
        'name': 'test_bad', 'model_type': 'AIDNModel', 'scale': 4, 'num_gpu': 0,
        'datasets': {'test_1': {'name': 'x', 'type': 'NoSuchDataset', 'dataroot_gt': str(tmp_path)}},
        'network_g': {'type': 'AIDN'}, 'path': {'pretrain_network_g': str(ckpt)}})
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(SystemExit) as info:
            basicsr_main(['test', '-opt', 'opt.yml'])
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and '\n' not in err
    assert err.startswith("basicsr test: error: opt.yml: datasets.test_1 could not be built: ")
    assert 'NoSuchDataset' in err
    assert not (tmp_path / 'results').exists()
