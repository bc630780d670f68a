"""Option-file checks that stop ``basicsr train`` before any work: every missing path in one line, and the
training scale checked against the scales AIDN supports (the architecture's own list)."""
import pytest

from aidn_plugin.archs.aidn_arch import SUPPORTED_SCALES
from test_training import _bad_run


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
