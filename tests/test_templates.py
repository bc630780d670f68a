"""The option templates inside the package: ``aidn options`` lists, shows and copies them, a clone's
``options/`` is the same folder, and a pip user reaches a demo training and the data check from an empty
folder with nothing but the package's commands."""
import os
from pathlib import Path

import pytest

from aidn_plugin import templates
from helpers import run, script

REPO = Path(__file__).resolve().parents[1]


def test_the_repositorys_options_folder_is_the_packaged_one():
    # one source: options/ is a link to aidn_plugin/options, so the two cannot drift
    assert (REPO / 'options').resolve() == Path(templates.TEMPLATE_DIR).resolve()
    assert templates.names() == sorted(p.stem for p in (REPO / 'options').glob('*.yml'))


def test_list_names_every_template_with_its_description():
    result = run([script('aidn'), 'options', 'list'])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == templates.names()
    assert any(line.startswith('train_AIDN_x4 ') and 'DF2K' in line for line in lines)


def test_show_prints_the_template():
    result = run([script('aidn'), 'options', 'show', 'test_AIDN_x2'])
    assert result.returncode == 0 and result.stdout == templates.text('test_AIDN_x2')


def test_copy_writes_the_files_and_refuses_to_replace_without_force(tmp_path):
    result = run([script('aidn'), 'options', 'copy', 'train_AIDN_x4', 'test_AIDN_x4.yml'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ('train_AIDN_x4', 'test_AIDN_x4'):
        assert (tmp_path / 'options' / f'{name}.yml').read_text() == templates.text(name)
    edited = tmp_path / 'options' / 'train_AIDN_x4.yml'
    edited.write_text('# mine\n')
    again = run([script('aidn'), 'options', 'copy', 'train_AIDN_x4'], cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.count('\n') == 1 and '--force' in again.stderr
    assert edited.read_text() == '# mine\n'
    forced = run([script('aidn'), 'options', 'copy', 'train_AIDN_x4', '--force', '--to', 'options'], cwd=tmp_path)
    assert forced.returncode == 0 and edited.read_text() == templates.text('train_AIDN_x4')


def test_an_unknown_name_is_one_line_and_nothing_is_written(tmp_path):
    result = run([script('aidn'), 'options', 'copy', 'train_AIDN_x4', 'train_AIDN_x5'], cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count('\n') == 1
    assert "'train_AIDN_x5'" in result.stderr and 'train_AIDN_x4' in result.stderr
    assert not (tmp_path / 'options').exists()


def test_a_copied_template_without_its_data_stops_at_the_data_check(tmp_path):
    assert run([script('aidn'), 'options', 'copy', 'train_AIDN_x4'], cwd=tmp_path).returncode == 0
    result = run([script('basicsr'), 'train', '-opt', 'options/train_AIDN_x4.yml'], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count('\n') == 1 and 'Traceback' not in result.stderr
    assert 'datasets.train.dataroot_gt (datasets/DF2K/' in result.stderr
    assert not (tmp_path / 'experiments').exists()


@pytest.mark.slow
def test_demo_training_runs_from_an_empty_folder(tmp_path):
    # what a pip user types: the template, the demo set, a (shortened) training with validation
    assert run([script('aidn'), 'options', 'copy', 'train_AIDN_x4_demo'], cwd=tmp_path).returncode == 0
    made = run([script('aidn'), 'prepare', 'demo'], cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    demo = tmp_path / 'datasets' / 'demo'
    for sub in ('train/HR', 'val/HR', 'val/LR_bicubic/X4'):  # byte for byte the clone's demo set
        names = sorted(os.listdir(REPO / 'datasets' / 'demo' / sub))
        assert sorted(os.listdir(demo / sub)) == names
        assert all((demo / sub / n).read_bytes() == (REPO / 'datasets' / 'demo' / sub / n).read_bytes() for n in names)
    result = run([script('basicsr'), 'train', '-opt', 'options/train_AIDN_x4_demo.yml', '--force_yml',
                  'train:total_iter=4', 'logger:save_checkpoint_freq=4', 'val:val_freq=4',
                  'datasets:train:num_worker_per_gpu=0'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    experiment = next((tmp_path / 'experiments').glob('AIDN_x4_demo_*'))
    assert (experiment / 'models' / 'net_g_latest.pth').exists()
    log = next(experiment.glob('train_*.log')).read_text()
    assert 'Validation demo_val' in log and '# psnr:' in log
    again = run([script('aidn'), 'prepare', 'demo'], cwd=tmp_path)
    assert again.returncode == 2 and '--overwrite' in again.stderr
