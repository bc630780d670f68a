"""Model zoo: downloads from a real HTTP server on 127.0.0.1 (good, corrupted, cut short, missing), the
cache under $TORCH_HOME, packaged weights, the ``aidn zoo`` commands and scripts/publish_weights.py."""
import runpy
import sys
from pathlib import Path

import pytest
import torch

from aidn_plugin import zoo
from aidn_plugin.cli.aidn_cli import main as aidn_main
from helpers import run, write_tiny_test_set
from zoo_helpers import TINY, entry_for, file_server, publish, tiny_model
from zoo_helpers import single_thread  # noqa: F401  (autouse fixture: one torch thread)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / 'torch_home'
    monkeypatch.setenv('TORCH_HOME', str(home))
    return home


@pytest.fixture
def published(tmp_path):
    """(model, path of its zoo file) for a tiny x2 AIDN."""
    model = tiny_model(seed=11, upscale=2)
    return model, publish(model, tmp_path / 'release', 'tiny_x2', {'act_type': 'lrelu'})


def _cache_files(torch_home):
    folder = torch_home / 'hub' / 'checkpoints'
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _same_output(a, b):
    x = torch.rand(1, 3, 11, 14)
    with torch.no_grad():
        assert torch.allclose(a(x), b(x), atol=1e-5, rtol=0)


def test_download_verifies_caches_and_then_needs_no_network(torch_home, published):
    model, path = published
    with file_server({'/w/' + path.name: (path.read_bytes(), 'ok')}) as (base, hits):
        entry = entry_for(path, 'tiny_x2', f'{base}/w/{path.name}', scale=2)
        got = zoo.download(entry)
        assert hits == ['/w/' + path.name]
    assert got == torch_home / 'hub' / 'checkpoints' / path.name
    assert got.read_bytes() == path.read_bytes()
    assert _cache_files(torch_home) == [path.name]  # no temp file left behind
    # Server gone: the cached, verified copy is used.
    table = {'tiny_x2': entry}
    assert zoo.ensure_local('tiny_x2', table) == got
    _same_output(zoo.load_model('tiny_x2', table), model)


@pytest.mark.parametrize('mode, message', [
    ('corrupt', 'sha256 mismatch'),
    ('truncate', r'was cut short: received \d+ of \d+ bytes'),
])
def test_bad_transfer_leaves_nothing(torch_home, published, mode, message):
    _, path = published
    with file_server({'/f.pth': (path.read_bytes(), mode)}) as (base, _):
        entry = entry_for(path, 'tiny_x2', f'{base}/f.pth', scale=2)
        with pytest.raises(zoo.DownloadError, match=message) as info:
            zoo.download(entry)
    assert 'nothing was saved' in str(info.value) and 'tiny_x2' in str(info.value)
    assert _cache_files(torch_home) == []


def test_http_error_and_unreachable_server(torch_home, published):
    _, path = published
    with file_server({}) as (base, _):
        entry = entry_for(path, 'tiny_x2', f'{base}/missing.pth', scale=2)
        with pytest.raises(zoo.DownloadError, match='HTTP 404'):
            zoo.download(entry)
    # The server is shut down now: connection refused.
    with pytest.raises(zoo.DownloadError, match=r'tiny_x2 from http://127\.0\.0\.1:\d+/missing\.pth failed'):
        zoo.download(entry)
    assert _cache_files(torch_home) == []


def test_corrupt_cached_copy_is_replaced(torch_home, published):
    _, path = published
    cached = torch_home / 'hub' / 'checkpoints' / path.name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b'garbage')
    with file_server({'/f.pth': (path.read_bytes(), 'ok')}) as (base, hits):
        entry = entry_for(path, 'tiny_x2', f'{base}/f.pth', scale=2)
        with pytest.warns(UserWarning, match='sha256 does not match'):
            assert zoo.ensure_local('tiny_x2', {'tiny_x2': entry}) == cached
        assert hits == ['/f.pth']
    assert cached.read_bytes() == path.read_bytes()


def test_packaged_weights_load_without_network(torch_home, published, monkeypatch):
    model, path = published
    monkeypatch.setattr(zoo.registry, 'PACKAGE_WEIGHTS_DIR', path.parent)
    entry = entry_for(path, 'tiny_x2', 'http://127.0.0.1:9/never-contacted.pth', scale=2)
    assert zoo.status(entry) == 'packaged'
    _same_output(zoo.load_model('tiny_x2', {'tiny_x2': entry}), model)
    assert _cache_files(torch_home) == []


def test_load_model_takes_a_zoo_name_or_a_checkpoint_file(torch_home, published):
    """One loader for users: a name of the table, or the path of a checkpoint (str or Path)."""
    model, path = published
    for name in (path, str(path)):
        loaded = zoo.load_model(name, {})
        assert loaded.fused
        _same_output(loaded, model)
    with pytest.raises(zoo.UnknownModelError, match=r"unknown model 'no_such.pth'; known models: none"):
        zoo.load_model('no_such.pth', {})
    assert _cache_files(torch_home) == []


def test_unknown_name_lists_known_ones(published):
    _, path = published
    table = {'tiny_x2': entry_for(path, 'tiny_x2', 'http://127.0.0.1:9/x.pth', scale=2)}
    with pytest.raises(zoo.UnknownModelError, match=r"unknown model 'aidn_x9'; known models: tiny_x2"):
        zoo.get_entry('aidn_x9', table)


def test_entry_validation(published):
    _, path = published
    good = entry_for(path, 'tiny_x2', 'http://127.0.0.1:9/x.pth', scale=2)
    fields = {k: getattr(good, k) for k in good.__dataclass_fields__}
    with pytest.raises(ValueError, match='filename must be tiny_x2-'):
        zoo.ZooEntry(**{**fields, 'filename': 'tiny_x2.pth'})
    with pytest.raises(ValueError, match='sha256 must be 64'):
        zoo.ZooEntry(**{**fields, 'sha256': 'abc'})
    with pytest.raises(ValueError, match='arch upscale 4 != scale 2'):
        zoo.ZooEntry(**{**fields, 'arch': {'upscale': 4}})


def test_shipped_table_is_consistent():
    """Every real row is well-formed, and every weight file beside the table has its row."""
    for name, entry in zoo.ZOO.items():
        assert entry.name == name
        assert entry.url.startswith('https://'), entry.url
        assert set(entry.psnr) <= {'Set5', 'Set14', 'B100', 'Urban100', 'Manga109'}
    # every weight file beside the table is described by it (the table itself is checked, entry by entry,
    # against its packaged files in test_zoo_published)
    shipped = {p.name for p in zoo.registry.PACKAGE_WEIGHTS_DIR.iterdir() if p.name != 'published.json'}
    assert shipped <= {entry.filename for entry in zoo.ZOO.values()}


def test_download_of_a_packaged_entry_says_it_is_packaged(torch_home, capsys):
    """`aidn zoo download NAME` for weights inside the package fetches nothing and says so."""
    for entry in zoo.ZOO.values():
        assert aidn_main(['zoo', 'download', entry.name]) == 0
        assert capsys.readouterr().out.strip() == (f'{entry.name}: packaged with aidn-plugin, nothing to download: '
                                                   f'{zoo.packaged_path(entry)}')
    assert _cache_files(torch_home) == []


def test_zoo_commands(torch_home, published, monkeypatch, capsys):
    _, path = published
    with file_server({'/f.pth': (path.read_bytes(), 'ok')}) as (base, _):
        monkeypatch.setitem(zoo.ZOO, 'tiny_x2', entry_for(path, 'tiny_x2', f'{base}/f.pth', scale=2))
        assert aidn_main(['zoo', 'list']) == 0
        listing = capsys.readouterr().out
        assert 'tiny_x2' in listing and 'not downloaded' in listing and '1.00' in listing

        with pytest.raises(SystemExit) as exit_info:
            aidn_main(['zoo', 'path', 'tiny_x2'])
        assert exit_info.value.code == 2
        assert 'tiny_x2 is not downloaded (run: aidn zoo download tiny_x2)' in capsys.readouterr().err

        assert aidn_main(['zoo', 'download', 'tiny_x2', '-q']) == 0
        cached = torch_home / 'hub' / 'checkpoints' / path.name
        assert capsys.readouterr().out.strip() == f'tiny_x2: downloaded and verified: {cached}'
        assert aidn_main(['zoo', 'download', 'tiny_x2', '-q']) == 0  # a second time: nothing fetched
        assert capsys.readouterr().out.strip() == f'tiny_x2: already downloaded and verified: {cached}'
    assert aidn_main(['zoo', 'path', 'tiny_x2']) == 0
    assert capsys.readouterr().out.strip() == str(cached)
    assert aidn_main(['zoo', 'info', 'tiny_x2']) == 0
    info = capsys.readouterr().out
    assert 'cached' in info and zoo.ZOO['tiny_x2'].sha256 in info


def test_unknown_name_on_the_command_line_is_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        aidn_main(['zoo', 'download', 'aidn_x99'])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.startswith("aidn zoo: error: unknown model 'aidn_x99'; known models:")
    assert len(err.strip().splitlines()) == 1


def test_publish_weights_end_to_end(tmp_path, torch_home, capsys):
    """BasicSR checkpoint -> zoo file (params_ema kept, module. stripped, hash-named) -> its entry in the
    folder's zoo table -> download from a real server -> the EMA network."""
    plain, ema = tiny_model(seed=21, upscale=3), tiny_model(seed=22, upscale=3)
    ckpt = tmp_path / 'net_g_500000.pth'
    torch.save({'params': {f'module.{k}': v for k, v in plain.state_dict().items()},
                'params_ema': {f'module.{k}': v for k, v in ema.state_dict().items()}}, ckpt)
    publish_main = runpy.run_path(str(REPO / 'scripts' / 'publish_weights.py'))['main']
    out_dir = tmp_path / 'release'
    assert publish_main([str(ckpt), '--name', 'tiny_x3', '--out-dir', str(out_dir), '--url-base', 'URLBASE',
                         '--arch', 'act_type=lrelu', '--psnr', 'Set5=20.5', '--train-data', 'noise']) == 0
    printed = capsys.readouterr().out
    (written, ), table = list(out_dir.glob('*.pth')), out_dir / 'published.json'
    assert f'entry tiny_x3 written to {table}' in printed
    assert written.name == f'tiny_x3-{zoo.file_sha256(written)[:8]}.pth'
    stored = torch.load(written, weights_only=True)
    assert set(stored) == {'params', 'arch'} and stored['arch']['upscale'] == 3
    assert all(not k.startswith('module.') for k in stored['params'])
    assert torch.equal(stored['params']['conv_first_img.weight'], ema.state_dict()['conv_first_img.weight'])

    table_text = table.read_text().replace('URLBASE', 'BASE')
    with file_server({'/rel/' + written.name: (written.read_bytes(), 'ok')}) as (base, _):
        table.write_text(table_text.replace('BASE', f'{base}/rel'))
        entries = zoo.registry.load_table(table)
        entry = entries['tiny_x3']
        assert entry.psnr == {'Set5': 20.5} and entry.train_data == 'noise' and entry.scale == 3
        # only what differs from AIDN's defaults is written down (the tiny network's size and scale)
        assert 'act_type' not in entry.arch and entry.arch['upscale'] == 3
        assert {key: entry.arch.get(key) for key in TINY} == TINY
        model = zoo.load_model('tiny_x3', entries)
    _same_output(model, ema)
    # publishing again under the same name replaces the entry instead of adding a second one
    assert publish_main([str(ckpt), '--name', 'tiny_x3', '--out-dir', str(out_dir), '--psnr', 'Set5=20.6']) == 0
    assert [e.psnr for e in zoo.registry.load_table(table).values()] == [{'Set5': 20.6}]


def test_publish_weights_eval_measures_the_written_file_by_basicsr_test(tmp_path, torch_home):
    """--eval, the script run as a file from another folder: the Y-PSNR in the entry is the zoo's evaluation (a
    real basicsr test) of the weights, on the sets present under DIR; a DIR without any is one line and writes
    nothing."""
    ckpt = tmp_path / 'net_g_10.pth'
    torch.save({'params': tiny_model(seed=5, upscale=4).state_dict()}, ckpt)
    write_tiny_test_set(tmp_path / 'sets' / 'Set5')
    script, out_dir = str(REPO / 'scripts' / 'publish_weights.py'), tmp_path / 'release'
    result = run([sys.executable, script, str(ckpt), '--name', 'tiny_x4', '--out-dir', str(out_dir),
                  '--arch', 'act_type=lrelu', '--eval', str(tmp_path / 'sets')], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    psnr = zoo.registry.load_table(out_dir / 'published.json')['tiny_x4'].psnr
    assert list(psnr) == ['Set5'] and 5 < psnr['Set5'] < 60  # measured, rounded to 2 decimals
    result = run([sys.executable, script, str(ckpt), '--name', 'tiny_b', '--out-dir', str(tmp_path / 'none'),
                  '--eval', str(tmp_path)], cwd=tmp_path)
    assert result.returncode == 1 and 'no <set>/HR and <set>/LR_bicubic/X4' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / 'none').exists()


@pytest.mark.parametrize('flag, item', [('--psnr', 'Set5'), ('--psnr', 'Set5=high'), ('--arch', '=3'),
                                        ('--arch', 'rgb_mean=[0.4,')])
def test_publish_weights_malformed_pairs_are_one_line(tmp_path, flag, item):
    publish_main = runpy.run_path(str(REPO / 'scripts' / 'publish_weights.py'))['main']
    with pytest.raises(SystemExit, match=f'{flag} .*: expected'):
        publish_main([str(tmp_path / 'none.pth'), '--name', 'x', '--out-dir', str(tmp_path / 'out'), flag, item])
    assert not (tmp_path / 'out').exists()
