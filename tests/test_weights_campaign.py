"""The weights campaign (``python -m scripts.weights_campaign``) on tiny networks and data: chunks through
the real ``basicsr train`` / ``basicsr test``, publishing only on improvement, a chunk killed and resumed, the
warm start's body transfer through BasicSR's own loader, the stopping rule, and bad inputs as one line.

Everything lives in tmp_path: a temporary zoo (table + files), evidence, log and work folders; the packaged
zoo and the committed logs are never touched.
"""
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
import torch

from aidn_plugin.archs.aidn_arch import AIDN
from aidn_plugin.archs.aidn_spec import CheckpointError
from aidn_plugin.utils.bicubic import bicubic_downscale, mod_crop
from aidn_plugin.zoo.registry import file_sha256, load_table
from aidn_plugin.zoo.warm_start import warm_start_state_dict
from helpers import call_main, write_photo_crops
from scripts.publish_weights import publish
from scripts.weights_campaign.__main__ import main
from scripts.weights_campaign.log import new_log, stopping_status, targets_status
from zoo_helpers import single_thread  # noqa: F401  (autouse fixture: one torch thread)

REPO = Path(__file__).resolve().parents[1]
TINY = dict(num_feat=8, num_block=2, num_out=2)
# the committed option files made tiny: the network of the tiny zoo files, 32 px crops, batch 2, often saved
TINY_OVERRIDES = ['network_g:num_feat=8', 'network_g:num_block=2', 'network_g:num_out=2',
                  'datasets:train:gt_size=32', 'datasets:train:batch_size_per_gpu=2',
                  'datasets:train:num_worker_per_gpu=0', 'datasets:train:dataset_enlarge_ratio=50',
                  'logger:print_freq=10', 'logger:save_checkpoint_freq=10']


def _test_sets(root, scales):
    """Set5, Set14 and B100 of two 48x48 photo crops each, LR by MATLAB-style bicubic at ``scales``."""
    for index, name in enumerate(('Set5', 'Set14', 'B100')):
        hr = write_photo_crops(root / name / 'HR', 2, 48, seed=10 + index)
        for scale in scales:
            lr_dir = root / name / 'LR_bicubic' / f'X{scale}'
            lr_dir.mkdir(parents=True)
            for path in sorted(hr.iterdir()):
                image = mod_crop(cv2.imread(str(path)), scale)
                cv2.imwrite(str(lr_dir / f'{path.stem}x{scale}.png'), bicubic_downscale(image, scale))
    return root


def _tiny_zoo_file(folder, scale, seed):
    """A tiny AIDN zoo file and its entry in ``folder/published.json``, through publish_weights' code path."""
    torch.manual_seed(seed)
    checkpoint = folder.parent / f'random_x{scale}.pth'
    torch.save({'params': AIDN(upscale=scale, **TINY).state_dict()}, checkpoint)
    publish(str(checkpoint), f'aidn_x{scale}', str(folder), url_base='https://example.invalid/w',
            train_data='random weights (test)', recipe='none: 0 iterations')


@pytest.fixture(scope='module')
def place(tmp_path_factory):
    root = tmp_path_factory.mktemp('campaign')
    write_photo_crops(root / 'train' / 'T91', 3, 48)
    for path in write_photo_crops(root / 'train' / 'BSD200', 3, 48, seed=1).iterdir():
        path.rename(path.with_name('bsd_' + path.name))  # stems are unique across the folders
    _test_sets(root / 'sets', (2, 4))
    _tiny_zoo_file(root / 'zoo', 2, seed=1)
    return root


def _argv(root, command, scale, *extra):
    return [command, '--scale', str(scale), '--data', str(root / 'train'), '--test-root', str(root / 'sets'),
            '--zoo-dir', str(root / 'zoo'), '--evidence-dir', str(root / 'evidence'), '--log-dir',
            str(root / 'logs'), '--work-dir', str(root / 'work'), '--threads', '1', *extra,
            '--override', *TINY_OVERRIDES]


def _log(root, scale):
    return json.loads((root / 'logs' / f'x{scale}.json').read_text())


def _zoo(root):
    return (root / 'zoo' / 'published.json').read_text()


@pytest.mark.slow
def test_chunks_resume_after_a_kill_and_publish_only_on_improvement(place, capsys):
    root = place
    first_file = load_table(root / 'zoo' / 'published.json')['aidn_x2'].filename
    # 1. chunk 1, killed (the whole process group: the script and its basicsr train) once a state exists
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore', PYTHONPATH=str(REPO))
    process = subprocess.Popen([sys.executable, '-m', 'scripts.weights_campaign',
                                *_argv(root, 'chunk', 2, '--iters', '300')],
                               cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    states = root / 'work' / 'experiments' / 'weights_campaign_x2_c001' / 'training_states'
    try:
        deadline = time.time() + 180
        while not (states.is_dir() and any(states.glob('*.state'))) and time.time() < deadline:
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            time.sleep(0.1)
        assert states.is_dir() and any(states.glob('*.state')), 'no training state was written'
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group is gone when the script failed
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert [row['chunk'] for row in _log(root, 2)['chunks']] == [0]  # row 0: the zoo file, measured
    assert (root / 'work' / 'x2_pending.json').is_file()
    assert load_table(root / 'zoo' / 'published.json')['aidn_x2'].filename == first_file

    # 2. the same command resumes chunk 1 from its newest state; it beats the random start: published
    code, out, err = call_main(main, _argv(root, 'chunk', 2, '--iters', '300'), capsys)
    assert code == 0, err
    assert 'chunk 1 was interrupted: resuming it' in out
    train_log = (root / 'work' / 'weights_campaign_x2_c001_train.out').read_text()
    assert 'Resuming training from epoch' in train_log
    log = _log(root, 2)
    row = log['chunks'][-1]
    assert (row['chunk'], row['kind'], row['resumed'], row['published']) == (1, 'continue', True, True)
    assert row['cumulative_iterations'] == 300 and row['gain_set5'] > 0
    assert not (root / 'work' / 'x2_pending.json').exists()
    entry = load_table(root / 'zoo' / 'published.json')['aidn_x2']
    assert entry.filename == row['filename']
    assert entry.sha256 == row['sha256'] == file_sha256(root / 'zoo' / entry.filename)
    assert sorted(p.name for p in (root / 'zoo').glob('*.pth')) == [entry.filename]  # the superseded file is gone
    evidence = json.loads(Path(entry.evidence).read_text())  # what tests/test_evidence.py checks in the repository
    assert evidence['sha256'] == entry.sha256
    assert evidence['command'] == 'python -m scripts.bench.zoo_eval --names aidn_x2'
    assert evidence['written_by'] == 'python -m scripts.weights_campaign chunk --scale 2'
    assert {k: round(v['psnr'], 2) for k, v in evidence['sets'].items()} == entry.psnr
    assert evidence['sets'] == row['sets']
    assert 'chunk 1 (continue): 300 iterations' in entry.recipe and '300 iterations at x2 in all' in entry.recipe
    assert '(BSD200 + T91): 6 images at least 32 px' in entry.train_data

    # 3. chunk 2 with lr 0 (and no EMA): the same weights again, so not better, so nothing is republished
    zoo_before = _zoo(root)
    code, out, err = call_main(main, _argv(root, 'chunk', 2, '--iters', '20', '--lr', '0', '--eta-min', '0',
                                           '--override', 'train:ema_decay=0'), capsys)
    assert code == 0, err
    assert 'not better than the published weights, not published' in out
    row2 = _log(root, 2)['chunks'][-1]
    assert (row2['chunk'], row2['published'], row2['gain_set5']) == (2, False, 0.0)
    assert row2['sha256'] == entry.sha256  # the chunk's file is byte for byte the published one
    assert row2['cumulative_iterations'] == 320
    assert _zoo(root) == zoo_before

    # a dry run plans chunk 3 and records nothing
    log_before = (root / 'logs' / 'x2.json').read_text()
    code, out, err = call_main(main, _argv(root, 'chunk', 2, '--dry-run'), capsys)
    assert code == 0, err
    assert f'dry run: would train weights_campaign_x2_c003 from published {entry.filename}, lr 0.0005 -> 1e-06' in out
    # sized to 90 minutes from the rate chunk 2 measured (chunk 1 ran resumed, so its rate does not count),
    # scaled by the probe step timed now against the one chunk 2 timed before it trained
    assert row2['probe_seconds'] > 0
    found = re.search(r'x2 chunk 3 \(continue\): ([\d,]+) iterations \(90 min at ([\d.]+) s/iteration: the last '
                      r'chunk measured ([\d.]+), times ([\d.]+) / ([\d.]+) s per probe step now / then\)', out)
    assert found, out
    measured, now, then = (float(found.group(i)) for i in (3, 4, 5))
    assert measured == pytest.approx(row2['train_seconds'] / 20, abs=5e-4)
    assert then == pytest.approx(row2['probe_seconds'], abs=5e-4)
    # the plan scales the logged rate by the probe now / then; the line prints the probe now to 0.001 s, and a
    # probe step of the tiny test network takes a few ms, so check against the range that rounding allows
    budget = 90 * 60 - row2['eval_seconds'] - 60

    def plan(probe_now):
        per_iteration = row2['train_seconds'] / 20 * probe_now / row2['probe_seconds']
        return max(500, int(budget / per_iteration) // 500 * 500)

    planned = int(found.group(1).replace(',', ''))
    assert plan(now + 5e-4) <= planned <= (plan(now - 5e-4) if now > 5e-4 else planned)
    assert not (root / 'work' / 'x2_pending.json').exists() and (root / 'logs' / 'x2.json').read_text() == log_before

    code, out, _ = call_main(main, ['status', '--log-dir', str(root / 'logs')], capsys)
    assert code == 0
    assert 'x2 (aidn_x2): 2 chunk(s) run' in out and 'last Set5 gains:' in out and 'the campaign goes on' in out


def test_warm_start_file_loads_through_basicsr_with_the_x2_body_exactly(place, tmp_path):
    """x4 from the x2 body: the file the campaign writes, loaded strictly by BasicSR's own load_network."""
    from basicsr.models import build_model

    from scripts.weights_campaign.training import load_options, option_file, write_warm_start
    x2_path = next((place / 'zoo').glob('aidn_x2-*.pth'))
    x2 = torch.load(x2_path, weights_only=True)['params']
    options = load_options(option_file(4, 'warm start'), TINY_OVERRIDES)
    start = write_warm_start(x2_path, options, tmp_path / 'x4_start.pth', seed=3)
    model = build_model({'model_type': 'AIDNModel', 'num_gpu': 0, 'is_train': False, 'dist': False,
                         'network_g': dict(options['network_g']),
                         'path': {'pretrain_network_g': str(start), 'strict_load_g': True}})
    loaded = model.net_g.state_dict()
    torch.manual_seed(3)
    fresh = AIDN(upscale=4, **TINY).state_dict()  # the x4 network's own initialisation
    assert set(loaded) == set(fresh)
    for key, value in loaded.items():
        if key.startswith(('upsampler.', 'fusion.')):
            assert torch.equal(value, fresh[key]), key
        else:
            assert torch.equal(value, x2[key]), key
    assert loaded['upsampler.0.weight'].shape[0] == 3 * 16 != x2['upsampler.0.weight'].shape[0]
    assert not torch.equal(loaded['fusion.weight'], x2['fusion.weight'])  # same shape, not carried over


def test_warm_start_refuses_a_body_of_another_width():
    with pytest.raises(CheckpointError, match=r"^x2\.pth: its body does not fit the target network: \d+ of "
                                              r"another shape \(first body\.0\.\S+ \(8,\) vs \(16,\)\)") as info:
        warm_start_state_dict(AIDN(upscale=2, **TINY).state_dict(), AIDN(upscale=4, **dict(TINY, num_feat=16)),
                              source='x2.pth')
    assert '\n' not in str(info.value)


def test_stopping_rule_and_targets_from_the_log():
    def row(chunk, set5, gain, published):
        return {'chunk': chunk, 'kind': 'shipped' if chunk == 0 else 'continue', 'gain_set5': gain,
                'published': published, 'sets': {'Set5': {'psnr': set5}, 'Set14': {'psnr': 28.3},
                                                 'B100': {'psnr': 27.5}}}
    log = new_log(4)
    log['chunks'] = [row(0, 31.15, None, True), row(1, 31.50, 0.35, True)]
    assert stopping_status(log) == (False, [0.35])
    log['chunks'].append(row(2, 31.51, 0.01, False))
    assert stopping_status(log)[0] is False  # one small gain after a large one
    log['chunks'].append(row(3, 31.45, -0.05, False))
    assert stopping_status(log) == (True, [0.01, -0.05])
    found, met = targets_status(log)  # the published row is chunk 1: Set5 31.50 < 31.7
    assert found['Set5'] == (31.50, 31.7, False) and found['Set14'][2] and not met


def test_markdown_table_shows_each_chunks_recipe_and_the_stopping_figure():
    """The README's table carries each chunk's own iterations, learning rate, minutes and Set5 gain to four
    places (0.0199 is below the rule's 0.02 and must not print as +0.020)."""
    from scripts.weights_campaign.log import markdown_table
    sets = {name: {'psnr': value} for name, value in (('Set5', 31.5), ('Set14', 28.2), ('B100', 27.3))}
    log = new_log(4)
    log['chunks'] = [
        {'chunk': 0, 'kind': 'shipped', 'iterations': 3000, 'cumulative_iterations': 3000, 'schedule': None,
         'train_seconds': None, 'gain_set5': None, 'published': True, 'sets': sets},
        {'chunk': 1, 'kind': 'continue', 'iterations': 6000, 'cumulative_iterations': 9000,
         'schedule': {'lr': 2e-4}, 'train_seconds': 4715.0, 'gain_set5': 0.0199, 'published': False, 'sets': sets}]
    header, rule, shipped, chunk = markdown_table([log]).splitlines()
    assert header.count('|') == rule.count('|') == shipped.count('|') == chunk.count('|')
    assert shipped == '| x4 | 0 (shipped) | 3,000 | 3,000 | - | - | 31.50 | 28.20 | 27.30 | - | yes |'
    assert chunk == '| x4 | 1 (continue) | 9,000 | 6,000 | 0.0002 | 79 | 31.50 | 28.20 | 27.30 | +0.0199 | no |'


def test_every_command_line_option_says_what_it_does():
    from scripts.weights_campaign.__main__ import build_parser
    _, sub = build_parser()
    for name, command in sub.choices.items():
        silent = [action.dest for action in command._actions if not action.help]
        assert not silent, f'{name}: options without help: {silent}'


def test_minutes_size_a_chunk_by_the_rate_expected_on_this_host_now():
    """A probe slower than the last chunk's rate shortens the chunk (a slower host no longer overruns its
    minutes); with the last chunk's own probe the rate scales by now / then; --iters needs no rate."""
    from types import SimpleNamespace

    from scripts.weights_campaign.chunk import chunk_iterations
    log = new_log(2)
    log['chunks'] = [{'chunk': 0, 'kind': 'shipped', 'train_seconds': None, 'iterations': 3000},
                     {'chunk': 1, 'kind': 'continue', 'train_seconds': 3000.0, 'iterations': 5000,
                      'eval_seconds': 60.0, 'resumed': False}]
    base = {'train': {'total_iter': 10000}}
    args = SimpleNamespace(iters=None, minutes=90)
    budget = 90 * 60 - 60 - 60
    assert chunk_iterations(args, log, base)[0] == int(budget / 0.6) // 500 * 500 == 8500
    assert chunk_iterations(args, log, base, probe_now=0.3)[0] == 8500  # a faster probe alone changes nothing
    iters, why = chunk_iterations(args, log, base, probe_now=1.2)
    assert iters == int(budget / 1.2) // 500 * 500 == 4000 and 'the slower of' in why
    log['chunks'][1]['probe_seconds'] = 0.5  # chunk 1 timed 0.5 s a step before training at 0.6 s an iteration
    iters, why = chunk_iterations(args, log, base, probe_now=1.0)
    assert iters == int(budget / 1.2) // 500 * 500 and 'times 1.000 / 0.500' in why
    assert chunk_iterations(args, log, base, probe_now=0.25)[0] == int(budget / 0.3) // 500 * 500
    assert chunk_iterations(SimpleNamespace(iters=700, minutes=90), log, base, 1.0) == (700, 'given with --iters')
    assert chunk_iterations(args, new_log(2), base, 1.0)[0] == 10000  # nothing measured yet: the option file


def test_probe_times_real_training_steps_and_restores_threads():
    from scripts.weights_campaign.probe import probe_seconds_per_step
    options = {'scale': 2, 'network_g': dict(type='AIDN', upscale=2, **TINY),
               'datasets': {'train': {'batch_size_per_gpu': 2, 'gt_size': 32}}}
    before = torch.get_num_threads()
    seconds = probe_seconds_per_step(options, threads=1, steps=3)
    assert 0 < seconds < 10 and torch.get_num_threads() == before


def test_zoo_recipe_names_every_chunk_behind_the_weights(tmp_path):
    """A warm start begins the lineage; continue chunks follow the published file they started from; a chunk
    that was not published is not part of it."""
    from scripts.weights_campaign.chunk import _recipe_and_data
    schedule = {'lr': 1e-3, 'eta_min': 1e-6, 'ema_decay': 0.999, 'batch': 16, 'patch': 128, 'seed': 1}
    log = new_log(4)
    log['chunks'] = [
        {'chunk': 0, 'kind': 'shipped', 'published': True, 'sha256': 'a', 'iterations': 3000, 'recipe': 'R0',
         'data': 'D0', 'start': {'from': 'scratch'}},
        {'chunk': 1, 'kind': 'warm start', 'published': True, 'sha256': 'b', 'iterations': 10000, 'data': 'D1',
         'schedule': schedule,
         'start': {'from': 'x2 body', 'file': 'aidn_x2-x.pth', 'sha256': 'x', 'x2_iterations': 23000}},
        {'chunk': 2, 'kind': 'continue', 'published': False, 'sha256': 'c', 'iterations': 9000, 'data': 'D1',
         'schedule': dict(schedule, lr=5e-4, seed=2), 'start': {'from': 'published', 'sha256': 'b'}},
        {'chunk': 3, 'kind': 'continue', 'published': True, 'sha256': 'd', 'iterations': 9000, 'data': 'D1',
         'schedule': dict(schedule, lr=5e-4, seed=3), 'start': {'from': 'published', 'sha256': 'b'},
         'cumulative_iterations': 19000},
    ]
    recipe, data = _recipe_and_data(log, log['chunks'][3], tmp_path / 'x4.json')
    assert '19,000 iterations at x4 in all' in recipe and 'chunk 0' not in recipe and 'chunk 2' not in recipe
    assert ('chunk 1 (warm start from the body of aidn_x2-x.pth (23,000 iterations at x2), upsampler and fusion '
            'freshly initialised): 10,000 iterations, cosine 0.001 -> 1e-06, EMA 0.999') in recipe
    assert 'chunk 3 (continue): 9,000 iterations, cosine 0.0005 -> 1e-06' in recipe and data == 'D1'


def test_a_dropped_chunk_is_set_aside_not_resumed(tmp_path):
    """Deleting a pending record drops its chunk; the next chunk has the same name, so the old BasicSR run
    is renamed first (else --auto_resume would continue it)."""
    from scripts.weights_campaign.chunk import set_aside_stale_run
    states = tmp_path / 'experiments' / 'weights_campaign_x2_c003' / 'training_states'
    states.mkdir(parents=True)
    (states / '500.state').write_bytes(b'old')
    said = []
    moved = set_aside_stale_run(str(tmp_path), 'weights_campaign_x2_c003', said.append)
    assert not states.exists() and (Path(moved) / 'training_states' / '500.state').read_bytes() == b'old'
    assert Path(moved).name.startswith('weights_campaign_x2_c003_abandoned_') and 'dropped chunk' in said[0]
    assert set_aside_stale_run(str(tmp_path), 'weights_campaign_x2_c003', said.append) is None


def _one_line_error(capsys, argv):
    code, out, err = call_main(main, argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    return err


def test_bad_inputs_are_one_line(place, tmp_path, capsys):
    err = _one_line_error(capsys, _argv(place, 'chunk', 5))
    assert "argument --scale: invalid choice: 5" in err
    argv = _argv(place, 'chunk', 2)
    argv[argv.index('--test-root') + 1] = str(tmp_path)
    assert 'Set5/HR not found' in _one_line_error(capsys, argv)
    argv = _argv(place, 'chunk', 2)
    argv[argv.index('--data') + 1] = str(tmp_path / 'nowhere')
    assert 'nowhere: not a folder' in _one_line_error(capsys, argv)
    # x4 before any x2 weights exist: the warm start has no source
    lonely = tmp_path / 'zoo'
    _tiny_zoo_file(lonely, 4, seed=2)
    for command in ('chunk', 'warmstart-check'):
        argv = _argv(place, command, 4)
        argv[argv.index('--zoo-dir') + 1] = str(lonely)
        assert "no entry 'aidn_x2'" in _one_line_error(capsys, argv)
    assert not (place / 'logs' / 'x4.json').exists()  # nothing was started
    err = _one_line_error(capsys, _argv(place, 'chunk', 2, '--init', 'x2-body'))
    assert 'x2 is what warm starts come from' in err
    err = _one_line_error(capsys, _argv(place, 'chunk', 2, '--override', 'datasets:nosuch:gt_size=8'))
    assert 'no section datasets:nosuch' in err


def test_committed_logs_agree_with_the_zoo_its_evidence_and_the_readme():
    """Each scale's log names the zoo's file as its published row, with the figures of that file's evidence,
    and the README's campaign table is the logs' table (no data set needed: committed files only)."""
    from aidn_plugin.zoo.registry import ZOO
    from scripts.weights_campaign.log import EVAL_SETS, SCALES, log_path, markdown_table, published_row, read_log
    logs = [read_log(log_path(REPO / 'benchmarks' / 'weights_campaign', scale)) for scale in SCALES]
    for log in logs:
        row, entry = published_row(log), ZOO[log['name']]
        assert (row['filename'], row['sha256']) == (entry.filename, entry.sha256), log['name']
        evidence = json.loads((REPO / entry.evidence).read_text())
        assert {name: evidence['sets'][name] for name in EVAL_SETS} == row['sets'], log['name']
    readme = (REPO / 'README.md').read_text(encoding='utf-8')
    section = readme[readme.index('### Weights campaign'):]
    missing = [line for line in markdown_table(logs).splitlines() if line not in section]
    assert not missing, f'README campaign table differs from benchmarks/weights_campaign: {missing[:2]}'
