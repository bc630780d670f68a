"""An unfinished quality cell carried to another machine (scripts/bench/carry.py): packed from one work folder,
continued by real ``basicsr train --auto_resume`` in an empty one, damaged copies refused."""
import json
import shutil

import pytest

from helpers import call_main, write_photo_crops, write_tiny_test_set

from aidn_plugin.zoo.registry import file_sha256
from scripts.bench import carry
from scripts.bench import quality as benchmark_quality


def _argv(tmp_path, work):
    return ['--data', str(tmp_path / 'train'), '--test-root', str(tmp_path / 'sets'), '--sets', 'Tiny',
            '--models', 'aidn', '--seeds', '0', '--iters', '4', '--batch', '2', '--patch', '32', '--workers', '0',
            '--enlarge', '2', '--threads', '1', '--num-gpu', '0', '--print-freq', '1', '--checkpoint-every', '2',
            '--quiet', '--work-dir', str(tmp_path / work), '--out-dir', str(tmp_path / 'out'),
            '--cells-dir', str(tmp_path / 'cells'), '--carry-dir', str(tmp_path / 'carry')]


def _stop_cell_at(tmp_path, work, iteration):
    """The cell's own option file trained to ``iteration`` of its 4: what an interrupted session leaves."""
    args = benchmark_quality.with_seed(benchmark_quality.parse_args(_argv(tmp_path, work)), 0)
    folder = tmp_path / work
    folder.mkdir()
    root, names, _ = benchmark_quality.find_training_images(args.data, args.patch)
    meta = folder / 'meta.txt'
    meta.write_text(''.join(f'{n}\n' for n in names))
    option_file = folder / 'train_aidn_s0.yml'
    benchmark_quality.write_yaml(str(option_file), benchmark_quality.train_options('aidn', args, root, str(meta)))
    benchmark_quality.run_basicsr('train', str(option_file), str(folder), 1, 'cut.out',
                                  ('--force_yml', f'train:total_iter={iteration}'))
    return benchmark_quality.experiment_name('aidn', args)


@pytest.mark.slow
def test_unfinished_cell_continues_in_an_empty_work_folder(tmp_path, capsys):
    write_photo_crops(tmp_path / 'train', 4, 40)
    write_tiny_test_set(tmp_path / 'sets' / 'Tiny')
    experiment = _stop_cell_at(tmp_path, 'machine_a', 2)
    carried = tmp_path / 'carry' / experiment

    code, out, err = call_main(benchmark_quality.main, _argv(tmp_path, 'machine_a') + ['--pack'], capsys)
    assert code == 0, err
    assert 'packed iteration 2 of 4' in out
    manifest = json.loads((carried / 'carry.json').read_text())
    # AIDN's state (about 3.8 MB) is stored in two parts, so no committed file is large
    assert manifest['iteration'] == 2 and sorted(p.name for p in carried.iterdir()) == \
        ['2.state.000', '2.state.001', 'carry.json', 'net_g_2.pth.000']
    assert all(p.stat().st_size <= carry.PART_BYTES for p in carried.iterdir())
    code, out, _ = call_main(benchmark_quality.main, _argv(tmp_path, 'machine_a') + ['--pack'], capsys)
    assert code == 0 and 'nothing new to pack (carried: iteration 2)' in out

    # a damaged copy is refused before anything is written to the work folder
    intact = tmp_path / 'intact'
    shutil.copytree(carried, intact)
    with open(carried / 'net_g_2.pth.000', 'r+b') as handle:
        handle.seek(100)
        handle.write(b'\0\1\2\3')
    code, _, err = call_main(benchmark_quality.main, _argv(tmp_path, 'machine_b'), capsys)
    assert code == 2 and 'net_g_2.pth: sha256 differs' in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / 'machine_b' / 'experiments').exists()
    assert not (tmp_path / 'cells').exists()
    shutil.rmtree(carried)
    shutil.copytree(intact, carried)

    # machine B: the same command continues the cell at iteration 3, finishes it and drops the carried copy
    code, out, err = call_main(benchmark_quality.main, _argv(tmp_path, 'machine_b'), capsys)
    assert code == 0, err
    assert 'resuming from the carried checkpoint of iteration 2' in out
    logs = sorted((tmp_path / 'machine_b' / 'experiments' / experiment).glob(f'train_{experiment}_*.log'))
    log = logs[-1].read_text()
    assert 'Resuming training from epoch' in log and 'iter: 2.' in log
    assert 'iter:       3,' in log and 'iter:       4,' in log and 'iter:       1,' not in log
    # the joined parts are byte for byte the files packed on machine A
    for key, sub in (('state', 'training_states/2.state'), ('weights', 'models/net_g_2.pth')):
        joined = tmp_path / 'machine_b' / 'experiments' / experiment / sub
        assert file_sha256(joined) == manifest['sha256'][key]
        assert joined.read_bytes() == (tmp_path / 'machine_a' / 'experiments' / experiment / sub).read_bytes()
    cell = json.loads((tmp_path / 'cells' / f'{experiment}.json').read_text())
    assert cell['carried_from']['iteration'] == 2 and cell['carried_from']['sha256'] == manifest['sha256']
    assert not carried.exists()
    code, out, _ = call_main(benchmark_quality.main, _argv(tmp_path, 'machine_b') + ['--pack'], capsys)
    assert code == 0 and 'packed' not in out  # finished cells are never packed
