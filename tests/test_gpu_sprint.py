"""The GPU sprint where there is no GPU: scripts/pack_training_data.py packs losslessly and checks it;
scripts/gpu_sprint.py refuses without CUDA in one line, rehearses end to end on the CPU (real basicsr train /
test runs, torchrun included) on tiny images written here, and its publish-back publishes into a temporary
zoo only when the Set5/Set14 mean beats the published entry's."""
import json
import re
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from helpers import python, run, write_photo_crops, write_tiny_test_set

ROOT = Path(__file__).resolve().parent.parent
SPRINT = ROOT / 'scripts' / 'gpu_sprint.py'
PACK = ROOT / 'scripts' / 'pack_training_data.py'
REHEARSAL = ['--rehearse-on-cpu', '--minutes', '0.05', '--batch', '2', '--patch', '32', '--workers', '0',
             '--check-iters', '4']


def write_source(root):
    """A tiny stand-in for the team's data folder: train/{T91,BSD200}, Set5 and Set14 (with a grey image)."""
    write_photo_crops(root / 'train' / 'T91', 2, 40)
    for path in write_photo_crops(root / 'train' / 'BSD200', 2, 48, seed=1).iterdir():
        path.rename(path.with_name('b' + path.name))
    for name in ('Set5', 'Set14'):
        write_tiny_test_set(root / name)
    grey = cv2.cvtColor(cv2.imread(str(root / 'Set14' / 'HR' / 'img000.png')), cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(root / 'Set14' / 'HR' / 'grey.png'), grey)
    cv2.imwrite(str(root / 'Set14' / 'LR_bicubic' / 'X4' / 'greyx4.png'), grey[::4, ::4])
    return root


@pytest.fixture(scope='module')
def packed(tmp_path_factory):
    """(source, packed folder) of the tiny images, packed by the real script."""
    root = tmp_path_factory.mktemp('sprint')
    source = write_source(root / 'source')
    result = run([sys.executable, str(PACK), '--source', str(source), '--out', str(root / 'packed')], timeout=120)
    assert result.returncode == 0, result.stderr
    assert re.search(r'packed: [\d.]+ MiB \([\d,]+ bytes\), 14 images', result.stdout)
    assert re.search(r'of 64 MiB: [\d.]+ MiB left', result.stdout)
    return source, root / 'packed'


def test_pack_is_bit_exact_and_checked(packed, tmp_path):
    source, folder = packed
    manifest = json.loads((folder / 'manifest.json').read_text())
    assert manifest['images'] == 14 and len(manifest['files']) == 14
    for entry in manifest['files']:
        assert entry['path'].endswith('.png' if 'grey' in entry['path'] else '.webp')
    # decoded by Pillow, a second decoder besides the script's OpenCV, in a process of its own: Pillow's WebP
    # decoder in the test process beside OpenCV's and OpenVINO's libraries once crashed a full run
    compare = python('import json, sys\nimport numpy as np\nfrom PIL import Image\n'
                     'folder, source = sys.argv[1:3]\n'
                     'for entry in json.load(open(folder + "/manifest.json"))["files"]:\n'
                     '    with Image.open(folder + "/" + entry["path"]) as a, Image.open(source + "/" + entry["source"]) as b:\n'
                     '        assert a.mode == b.mode and np.array_equal(np.asarray(a), np.asarray(b)), entry\n'
                     'print("same")\n', args=[str(folder), str(source)])
    assert compare.returncode == 0 and compare.stdout.strip() == 'same', compare.stderr
    check = run([sys.executable, str(PACK), '--source', str(source), '--out', str(folder), '--check'], timeout=120)
    assert check.returncode == 0, check.stderr

    copy = shutil.copytree(folder, tmp_path / 'copy')
    image = copy / 'train' / 'T91' / 'img000.webp'
    data = bytearray(image.read_bytes())
    data[-1] ^= 1
    image.write_bytes(bytes(data))
    bad = run([sys.executable, str(PACK), '--source', str(source), '--out', str(copy), '--check'], timeout=120)
    assert bad.returncode == 1 and bad.stderr.count('\n') == 1
    assert f'{image}: missing, or its sha256 differs' in bad.stderr

    again = run([sys.executable, str(PACK), '--source', str(source), '--out', str(copy)], timeout=120)
    assert again.returncode == 1 and 'already exists' in again.stderr and again.stderr.count('\n') == 1
    (source / 'Set5' / 'LR_bicubic' / 'X4').rename(source / 'X4_aside')
    try:
        missing = run([sys.executable, str(PACK), '--source', str(source), '--out', str(tmp_path / 'new')],
                      timeout=120)
    finally:
        (source / 'X4_aside').rename(source / 'Set5' / 'LR_bicubic' / 'X4')
    assert missing.returncode == 1 and 'Set5/LR_bicubic/X4 not found' in missing.stderr
    assert not (tmp_path / 'new').exists() and not list(tmp_path.glob('.new*'))


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU: the refusal does not apply')
def test_refuses_without_cuda_in_one_line_before_anything(tmp_path):
    result = run([sys.executable, str(SPRINT), 'run', '--out', str(tmp_path / 'out')], cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and result.stdout == ''
    assert result.stderr == ('gpu_sprint: no CUDA device (torch.cuda.is_available() is False): nothing was '
                             'installed or written; --rehearse-on-cpu rehearses on the CPU\n')
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments_are_one_line(tmp_path):
    result = run([sys.executable, str(SPRINT), 'run', '--rehearse-on-cpu', '--patch', '30'], cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and result.stderr == 'gpu_sprint: error: --patch 30: expected a multiple of 4\n'
    result = run([sys.executable, str(SPRINT), 'run', '--rehearse-on-cpu', '--data', str(tmp_path / 'none'),
                  '--out', str(tmp_path / 'out')], cwd=tmp_path, timeout=120)
    assert result.returncode == 1 and result.stderr.count('\n') == 1
    assert f'--data {tmp_path / "none"}: not a folder' in result.stderr and list(tmp_path.iterdir()) == []
    back = tmp_path / 'back'
    back.mkdir()
    (back / 'sprint.json').write_text(json.dumps({'rehearsal': False, 'settings': {}, 'date': '2026-12-06T00:00:00',
                                                  'result': {'weights': 'w.pth', 'sha256': '0' * 64}}))
    (back / 'w.pth').write_bytes(b'not these')
    result = run([sys.executable, str(SPRINT), 'publish', str(back), '--record-dir', str(tmp_path / 'records')],
                 timeout=120)
    assert result.returncode == 1 and result.stderr.count('\n') == 1
    assert f'{back / "w.pth"}: missing, or not the file' in result.stderr and not (tmp_path / 'records').exists()
    (back / 'sprint.json').write_text(json.dumps({'rehearsal': True, 'settings': {}, 'result': {}}))
    result = run([sys.executable, str(SPRINT), 'publish', str(back)], timeout=120)
    assert result.returncode == 1 and result.stderr.count('\n') == 1
    assert result.stderr.endswith("a CPU rehearsal's output; nothing to publish\n")


@pytest.mark.slow
def test_cpu_rehearsal_end_to_end(packed, tmp_path):
    """The real command on the CPU: check (torchrun with gloo, resume), train, evaluate; tiny budget."""
    out = tmp_path / 'out'
    result = run([sys.executable, str(SPRINT), 'run', *REHEARSAL, '--data', str(packed[1]), '--out', str(out)],
                 timeout=300)
    assert result.returncode == 0, result.stdout[-4000:]
    assert sorted(p.name for p in out.iterdir()) == ['aidn_x4_sprint.pth', 'sprint.json', 'sprint.log', 'train.log']
    report = json.loads((out / 'sprint.json').read_text())
    assert report['failures'] == [] and report['rehearsal'] is True
    assert list(report['phases']) == ['preflight', 'check', 'train', 'evaluate']
    check = report['phases']['check']
    assert check['fp16']['launcher'] == 'torchrun, world size 1' and check['fp16']['iterations'] == 4
    assert check['resume'] == {'from_iteration': 4, 'to_iteration': 5, 'saved_grad_scaler': None}
    assert report['phases']['preflight']['at_least_patch'] == 4
    result_ = report['result']
    assert result_['amp'] == 'bf16' and result_['iterations'] >= 1 and result_['loss_curve']
    assert set(result_['psnr_y']) == {'Set5', 'Set14'} and result_['validation'] > 10
    state = torch.load(out / 'aidn_x4_sprint.pth', map_location='cpu', weights_only=True)
    assert {'params', 'params_ema'} <= set(state)
    assert (out / 'sprint.log').read_text().rstrip().endswith('all passed')


def _sprint_output(folder):
    """What a GPU run returns: the zoo's x4 weights, a little changed, as a BasicSR checkpoint, and its JSON."""
    from aidn_plugin import zoo
    from aidn_plugin.zoo.checkpoints import read_checkpoint
    state, _ = read_checkpoint(zoo.packaged_path(zoo.get_entry('aidn_x4')))
    state = {k: v + 1e-4 * (i == 0) for i, (k, v) in enumerate(state.items())}
    folder.mkdir()
    torch.save({'params': state, 'params_ema': state}, folder / 'aidn_x4_sprint.pth')
    report = {'date': '2026-12-06T10:11:12+00:00', 'rehearsal': False, 'gpu': {'nvidia_smi': 'NVIDIA H100'},
              'settings': {'init': 'published', 'lr': 5e-4, 'eta_min': 1e-6, 'ema': 0.999, 'batch': 64, 'patch': 192},
              'result': {'iterations': 4000, 'amp': 'bf16', 'weights': 'aidn_x4_sprint.pth',
                         'sha256': zoo.file_sha256(folder / 'aidn_x4_sprint.pth')}}
    (folder / 'sprint.json').write_text(json.dumps(report))


def _zoo(folder, psnr):
    """A temporary zoo holding the packaged aidn_x4 file, its evidence claiming ``psnr`` dB on every set."""
    from aidn_plugin import zoo
    from aidn_plugin.zoo.registry import PUBLISHED_TABLE
    entry = json.loads(PUBLISHED_TABLE.read_text())
    entry = next(row for row in entry['weights'] if row['name'] == 'aidn_x4')
    folder.mkdir()
    shutil.copy(zoo.packaged_path(zoo.get_entry('aidn_x4')), folder)
    evidence = json.loads((ROOT / entry['evidence']).read_text())
    for figures in evidence['sets'].values():
        figures['psnr'] = psnr
    (folder / 'evidence.json').write_text(json.dumps(evidence))
    entry['evidence'] = str(folder / 'evidence.json')
    (folder / 'published.json').write_text(json.dumps({'weights': [entry]}))
    return entry


@pytest.mark.slow
@pytest.mark.parametrize('published_psnr', [99.0, 1.0])
def test_publish_back_by_the_zoo_rule(tmp_path, published_psnr):
    back, zoo_dir = tmp_path / 'back', tmp_path / 'zoo'
    _sprint_output(back)
    old = _zoo(zoo_dir, published_psnr)
    test_root = tmp_path / 'test'
    for name in ('Set5', 'Set14', 'B100'):
        write_tiny_test_set(test_root / name)
    before = {p.name: p.read_bytes() for p in zoo_dir.iterdir()}
    result = run([sys.executable, str(SPRINT), 'publish', str(back), '--test-root', str(test_root), '--zoo-dir',
                  str(zoo_dir), '--evidence-dir', str(tmp_path / 'evidence'), '--record-dir', str(tmp_path / 'records'),
                  '--work-dir', str(tmp_path / 'work'), '--threads', '1'], timeout=300)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / 'records' / '20261206101112.json').read_text())
    decision = record['publish_back']
    assert decision['published_before']['validation'] == published_psnr
    assert decision['published'] is (published_psnr == 1.0)
    assert set(decision['candidate']['sets']) == {'Set5', 'Set14', 'B100'}
    if published_psnr == 99.0:  # not better: the zoo is untouched, no evidence written
        assert {p.name: p.read_bytes() for p in zoo_dir.iterdir()} == before
        assert not (tmp_path / 'evidence').exists() and 'not published' in result.stdout
        return
    from aidn_plugin.zoo.registry import file_sha256, load_table
    entry = load_table(zoo_dir / 'published.json')['aidn_x4']
    assert entry.filename == decision['candidate']['filename'] != old['filename']
    assert sorted(p.name for p in zoo_dir.glob('*.pth')) == [entry.filename]  # the old file removed
    assert file_sha256(zoo_dir / entry.filename) == entry.sha256
    evidence = json.loads((tmp_path / 'evidence' / 'aidn_x4.json').read_text())
    assert evidence['filename'] == entry.filename and evidence['sha256'] == entry.sha256
    assert {k: round(v['psnr'], 2) for k, v in evidence['sets'].items()} == entry.psnr
    assert evidence['command'] == 'python -m scripts.bench.zoo_eval --names aidn_x4'
    assert entry.recipe.startswith('GPU sprint') and old['recipe'] in entry.recipe


def test_docs_give_the_device_invocation():
    page = (ROOT / 'docs' / 'contributing.md').read_text()
    section = page[page.index('## GPU check'):]
    command = re.search(r'```bash\n(PYTHONUNBUFFERED=1 python3 scripts/gpu_sprint\.py run [^\n]*)\n```',
                        section).group(1)
    assert len(command) <= 2000 and f'| `command` | `{command}` |' in section
    assert '| `carry` | `["wheels", "sprint_data"]` |' in section and '| `timeout_s` | `570`' in section
    for needed in ('pip download', 'pip wheel', 'scripts/pack_training_data.py', 'scripts/gpu_sprint.py publish',
                   'MiB left'):
        assert needed in section, needed
