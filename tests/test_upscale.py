"""Tiled upscaling (exactness, quality, bounded tiles), image kinds (grey, RGBA, 16-bit, 1x1) and the
``aidn upscale`` command with good and bad inputs."""
import os

import cv2
import numpy as np
import pytest
import torch

from aidn_plugin import zoo
from aidn_plugin.cli.aidn_cli import main as aidn_main
from aidn_plugin.inference.tiling import (DEFAULT_OVERLAP, DEFAULT_TILE, iter_tiles, tile_count, tile_windows,
                                          upscale_image)
from aidn_plugin.zoo.checkpoints import save_checkpoint
from helpers import run, script
from zoo_helpers import entry_for, file_server, publish, tiny_model
from zoo_helpers import single_thread  # noqa: F401  (autouse fixture: one torch thread)


@pytest.fixture(scope='module')
def model_x2():
    return tiny_model(seed=31, upscale=2).fuse()


@pytest.fixture
def weights_x2(tmp_path):
    path = tmp_path / 'tiny_x2.pth'
    save_checkpoint(path, tiny_model(seed=31, upscale=2).state_dict(), {})
    return path


def _to_tensor(rgb):
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255


def _quantise(t):
    return t[0].clamp(0, 1).mul(255).round().permute(1, 2, 0).numpy().astype(np.uint8)


@pytest.mark.parametrize('length, tile, overlap', [(512, 192, 16), (193, 192, 16), (1000, 64, 8), (7, 5, 2),
                                                   (100, 0, 16), (150, 192, 16), (1, 192, 16)])
def test_tile_windows_partition_the_axis(length, tile, overlap):
    windows = tile_windows(length, tile, overlap)
    cores = [(c0, c1) for _, _, c0, c1 in windows]
    assert cores[0][0] == 0 and cores[-1][1] == length
    assert all(a[1] == b[0] for a, b in zip(cores, cores[1:]))  # no gap, no overlap between cores
    for start, end, c0, c1 in windows:
        assert start <= c0 < c1 <= end
        assert tile == 0 or end - start <= tile
        assert c0 - start == min(overlap, c0) or len(windows) == 1  # full context unless at the border
    if tile == 0 or length <= tile:
        assert windows == [(0, length, 0, length)]


def _tiled_forward(model, lr, tile, overlap):
    """The float tiles of :func:`iter_tiles` put together (upscale_image quantises each tile instead)."""
    n, c, h, w = lr.shape
    result = torch.empty(n, c, h * model.upscale, w * model.upscale)
    for top, left, out in iter_tiles(model, lr, tile, overlap):
        result[:, :, top:top + out.shape[2], left:left + out.shape[3]] = out
    return result


def test_one_tile_covering_the_image_is_identical_to_untiled(model_x2, photo_rgb):
    x = _to_tensor(photo_rgb[:150, :170])
    with torch.no_grad():
        whole = model_x2(x)
    assert torch.equal(_tiled_forward(model_x2, x, tile=192, overlap=16), whole)
    bgr = np.ascontiguousarray(photo_rgb[:150, :170, ::-1])
    assert np.array_equal(upscale_image(model_x2, bgr), _quantise(whole)[:, :, ::-1])


def test_default_tiling_is_above_50db_on_an_image_several_tiles_wide(model_x2, photo_rgb):
    from basicsr.metrics import calculate_psnr
    bgr = np.ascontiguousarray(photo_rgb[:200, :352, ::-1])
    assert tile_count(*bgr.shape[:2]) == 6  # 3 tiles wide, 2 high with the defaults
    untiled = upscale_image(model_x2, bgr, tile=0)
    tiled = upscale_image(model_x2, bgr)  # defaults: tile 192, overlap 16
    psnr = calculate_psnr(tiled, untiled, crop_border=0, test_y_channel=True)
    assert psnr >= 50, psnr
    # The overlap is what buys this: cutting tiles without context is visibly worse.
    no_context = upscale_image(model_x2, bgr, tile=DEFAULT_TILE, overlap=0)
    assert calculate_psnr(no_context, untiled, crop_border=0, test_y_channel=True) < psnr - 10


def test_network_never_sees_more_than_one_tile(photo_rgb):
    """Peak memory is bounded by the tile: every network input is at most tile x tile LR pixels."""
    model = tiny_model(seed=32, upscale=4).fuse()
    shapes = []
    model.register_forward_pre_hook(lambda module, args: shapes.append(tuple(args[0].shape[2:])))
    image = np.ascontiguousarray(photo_rgb[:60, :200, ::-1])
    out = upscale_image(model, image, tile=40, overlap=4)
    assert out.shape == (240, 800, 3)
    assert len(shapes) == tile_count(60, 200, 40, 4) == 14 and max(max(s) for s in shapes) <= 40


def test_grey_stays_grey(model_x2, photo_rgb):
    grey = cv2.cvtColor(photo_rgb[:60, :50], cv2.COLOR_RGB2GRAY)
    out = upscale_image(model_x2, grey, tile=32, overlap=4)
    assert out.shape == (120, 100) and out.dtype == np.uint8
    # Grey through the RGB network: the luma of the output of the replicated image.
    with torch.no_grad():
        rgb_out = model_x2(torch.from_numpy(grey)[None, None].float().div(255).expand(1, 3, 60, 50))
    luma = (rgb_out * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    expected = luma[0, 0].clamp(0, 1).mul(255).round().numpy()
    assert np.abs(upscale_image(model_x2, grey, tile=0).astype(float) - expected).max() == 0


def test_rgba_alpha_upscaled_separately(model_x2, photo_rgb):
    bgr = np.ascontiguousarray(photo_rgb[:40, :30, ::-1])
    alpha = np.tile(np.linspace(0, 255, 30).astype(np.uint8), (40, 1))
    out = upscale_image(model_x2, np.dstack((bgr, alpha)))
    assert out.shape == (80, 60, 4)
    assert np.array_equal(out[:, :, :3], upscale_image(model_x2, bgr))
    assert np.array_equal(out[:, :, 3], cv2.resize(alpha, (60, 80), interpolation=cv2.INTER_CUBIC))


def test_16_bit_stays_16_bit(model_x2, photo_rgb):
    image16 = np.ascontiguousarray(photo_rgb[:32, :32, ::-1]).astype(np.uint16) * 257
    out = upscale_image(model_x2, image16)
    assert out.dtype == np.uint16 and out.shape == (64, 64, 3)
    out8 = upscale_image(model_x2, (image16 // 257).astype(np.uint8))
    # Same picture, finer steps: within one 8-bit level of the 8-bit result, and uses the 16-bit range.
    assert np.abs(out.astype(float) / 257 - out8).max() <= 1.0
    assert (out % 257 != 0).any()


@pytest.mark.parametrize('shape', [(1, 1, 3), (1, 1), (3, 200, 3), (17, 5, 4)])
def test_tiny_and_thin_images(model_x2, shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = upscale_image(model_x2, image, tile=64, overlap=8)
    assert out.shape == (shape[0] * 2, shape[1] * 2) + shape[2:]


# ---- the command ----

def _inputs(folder, photo_rgb):
    folder.mkdir()
    cv2.imwrite(str(folder / 'a.png'), photo_rgb[:40, :48, ::-1])
    cv2.imwrite(str(folder / 'b.jpg'), photo_rgb[100:130, 100:120, ::-1])
    cv2.imwrite(str(folder / 'grey16.png'), (photo_rgb[:20, :24, 1].astype(np.uint16) * 257))
    cv2.imwrite(str(folder / 'one.png'), photo_rgb[:1, :1, ::-1])
    (folder / 'notes.png').write_text('this is not an image')
    return folder


def test_command_folder_with_a_bad_file(tmp_path, photo_rgb, weights_x2, capsys):
    inputs = _inputs(tmp_path / 'in', photo_rgb)
    out = tmp_path / 'out'
    code = aidn_main(['upscale', str(inputs), '-o', str(out), '--weights', str(weights_x2), '-q', '--tile', '40'])
    err = capsys.readouterr().err
    assert code == 1
    assert 'notes.png: not a readable image' in err and '4 written, 1 failed' in err
    written = {p.name: cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in out.iterdir()}
    assert sorted(written) == ['a.png', 'b.jpg', 'grey16.png', 'one.png']
    assert written['a.png'].shape == (80, 96, 3)
    assert written['grey16.png'].shape == (40, 48) and written['grey16.png'].dtype == np.uint16
    assert written['one.png'].shape == (2, 2, 3)

    # Existing outputs are kept unless --force.
    before = (out / 'a.png').stat().st_mtime_ns
    code = aidn_main(['upscale', str(inputs / 'a.png'), '-o', str(out), '--weights', str(weights_x2), '-q'])
    assert code == 1 and 'exists (use --force to overwrite)' in capsys.readouterr().err
    assert (out / 'a.png').stat().st_mtime_ns == before
    assert aidn_main(['upscale', str(inputs / 'a.png'), '-o', str(out), '--weights', str(weights_x2), '-q',
                      '--force']) == 0


def test_command_globs_single_file_output_and_ext(tmp_path, photo_rgb, weights_x2):
    inputs = _inputs(tmp_path / 'in', photo_rgb)
    assert aidn_main(['upscale', str(inputs / '*.jpg'), '-o', str(tmp_path / 'g'), '--ext', 'png', '-q',
                      '--weights', str(weights_x2)]) == 0
    assert [p.name for p in (tmp_path / 'g').iterdir()] == ['b.png']
    target = tmp_path / 'single' / 'big.png'
    assert aidn_main(['upscale', str(inputs / 'a.png'), '-o', str(target), '--weights', str(weights_x2),
                      '-q']) == 0
    assert cv2.imread(str(target)).shape == (80, 96, 3)


@pytest.mark.parametrize('argv, message', [
    (['missing.png'], 'missing.png: no such file or folder'),
    (['empty'], 'empty: folder has no images'),
    (['nomatch/*.png'], 'nomatch/*.png: no image matches this pattern'),
])
def test_command_inputs_that_give_nothing(tmp_path, weights_x2, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / 'readme.txt').write_text('no images here')
    with pytest.raises(SystemExit) as info:
        aidn_main(['upscale', *argv, '-o', 'out', '--weights', str(weights_x2)])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert message in err and 'aidn upscale: error: no input images to upscale' in err
    assert not (tmp_path / 'out').exists()


def test_command_refusals(tmp_path, photo_rgb, weights_x2, capsys):
    image = tmp_path / 'a.png'
    cv2.imwrite(str(image), photo_rgb[:20, :20])
    notckpt = tmp_path / 'notes.pth'
    notckpt.write_text('hello')
    cases = [
        (['--weights', str(weights_x2), '--device', 'cpu', '--half'], '--half needs a CUDA device'),
        (['--weights', str(notckpt)], 'notes.pth: not a PyTorch checkpoint'),
        (['--weights', str(weights_x2), '--scale', '4'], 'checkpoint is for x2, but x4 was asked for'),
        (['-m', 'aidn_x99'], "unknown model 'aidn_x99'; known models:"),
        (['--weights', str(weights_x2), '--tile', '16', '--tile-overlap', '8'],
         'tile (16) must be larger than twice the overlap (8)'),
    ]
    if not torch.cuda.is_available():
        cases.append((['--weights', str(weights_x2), '--device', 'cuda'], 'no CUDA device is available'))
    for extra, message in cases:
        with pytest.raises(SystemExit) as info:
            aidn_main(['upscale', str(image), '-o', str(tmp_path / 'out'), *extra])
        err = capsys.readouterr().err
        assert info.value.code == 2 and message in err, (extra, err)
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / 'out').exists()


def test_command_with_a_zoo_name(tmp_path, photo_rgb, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'th'))
    model = tiny_model(seed=33, upscale=3)
    path = publish(model, tmp_path / 'release', 'tiny_x3')
    image = np.ascontiguousarray(photo_rgb[:30, :40, ::-1])
    cv2.imwrite(str(tmp_path / 'a.png'), image)
    with file_server({'/f.pth': (path.read_bytes(), 'ok')}) as (base, _):
        monkeypatch.setitem(zoo.ZOO, 'tiny_x3', entry_for(path, 'tiny_x3', f'{base}/f.pth', scale=3))
        assert aidn_main(['upscale', str(tmp_path / 'a.png'), '-o', str(tmp_path / 'out'), '-m', 'tiny_x3',
                          '-q']) == 0
    out = cv2.imread(str(tmp_path / 'out' / 'a.png'))
    assert np.array_equal(out, upscale_image(model.fuse(), image))


@pytest.mark.slow
def test_real_command_keeps_going_and_exits_non_zero(tmp_path, photo_rgb, weights_x2):
    inputs = _inputs(tmp_path / 'in', photo_rgb)
    result = run([script('aidn'), 'upscale', str(inputs / 'a.png'), str(inputs / 'notes.png'),
                  str(tmp_path / 'gone.png'), str(inputs / 'b.jpg'), '-o', str(tmp_path / 'out'),
                  '--weights', str(weights_x2)])
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert sorted(os.listdir(tmp_path / 'out')) == ['a.png', 'b.jpg']
    errors = [line for line in result.stderr.splitlines() if line.startswith('aidn upscale: error:')]
    assert len(errors) == 2 and 'gone.png: no such file' in errors[0] and 'notes.png' in errors[1]
    assert 'a.png -> ' in result.stdout and '(48x40 -> 96x80' in result.stdout
    assert DEFAULT_TILE == 192 and DEFAULT_OVERLAP == 16  # the figures the README quotes


@pytest.mark.parametrize('image, message', [
    (np.zeros((8, 8, 3), np.float32), r'unsupported sample type float32 \(expected uint8 or uint16\)'),
    (np.zeros((8, 8, 2), np.uint8), r'expected a grey, BGR or BGRA image, got shape \(8, 8, 2\)'),
])
def test_unsupported_pixels_follow_the_imaging_layer_rules(model_x2, image, message):
    from aidn_plugin.utils.image_io import ImageError
    with pytest.raises(ImageError, match=message):
        upscale_image(model_x2, image)
