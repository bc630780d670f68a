"""Issue 31: images that lie about their size or are too big, frames that would vanish, and outputs written
row by row (docs/large-images.md).

Inputs are tiny real files (a PNG whose header declares 60000 x 60000 pixels is written chunk by chunk
here); the command runs for real, in this process (``main``) or as the installed script; the memory test
sets ``--max-memory`` small instead of allocating much.
"""
import io
import os
import re
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from aidn_plugin.cli.aidn_cli import main as aidn_main
from aidn_plugin.inference.tile_plan import held_bytes, strip_height
from aidn_plugin.inference.tiling import upscale_image, upscale_rows
from aidn_plugin.utils import image_header, png_stream
from aidn_plugin.utils.image_files import write_strips
from aidn_plugin.utils.memory import format_bytes, parse_size
from aidn_plugin.utils.png_stream import PngRowWriter
from aidn_plugin.utils.tiff_stream import TiffRowWriter
from aidn_plugin.zoo.checkpoints import save_checkpoint
from helpers import call_main, run, script
from zoo_helpers import tiny_model
from zoo_helpers import single_thread  # noqa: F401  (autouse fixture: one torch thread)


def lying_png(path, width=60000, height=60000):
    """A valid PNG of a few bytes whose IHDR declares ``width`` x ``height`` 8-bit RGB pixels."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\0' * 64))
                     + chunk(b'IEND', b''))
    return path


def animated_gif(path, frames=3):
    images = [Image.fromarray(np.full((20, 24, 3), 40 * i, np.uint8)) for i in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=100)
    return path


def palette_gif(path):
    """A still GIF: a gradient quantised to Pillow's palette."""
    rgb = np.dstack([*np.meshgrid(np.linspace(0, 255, 24), np.linspace(0, 255, 20)), np.full((20, 24), 90.)])
    Image.fromarray(rgb.astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope='module')
def model_x2():
    return tiny_model(seed=41, upscale=2).fuse()


@pytest.fixture
def weights_x2(tmp_path):
    path = tmp_path / 'tiny_x2.pth'
    save_checkpoint(path, tiny_model(seed=41, upscale=2).state_dict(), {})
    return path


def _upscale(capsys, *argv):
    return call_main(aidn_main, ['upscale', *argv], capsys)


# ---- the header, read before any work

def test_headers_are_read_without_decoding(tmp_path, photo_rgb):
    header = image_header.read_header(lying_png(tmp_path / 'lie.png'))
    assert (header.format, header.width, header.height, header.channels, header.frames) == ('PNG', 60000, 60000, 3, 1)
    cv2.imwrite(str(tmp_path / 'g16.png'), photo_rgb[:10, :12, 0].astype(np.uint16) * 257)
    header = image_header.read_header(tmp_path / 'g16.png')
    assert (header.channels, header.sample_bytes, header.decoded_bytes()) == (1, 2, 240)
    assert image_header.read_header(animated_gif(tmp_path / 'a.gif')).frames == 3
    (tmp_path / 'notes.png').write_text('not an image')
    assert image_header.read_header(tmp_path / 'notes.png') is None  # the decoder says why, later


def test_a_lying_header_is_one_line_and_the_others_are_written(tmp_path, photo_rgb, weights_x2, capsys):
    cv2.imwrite(str(tmp_path / 'good.png'), photo_rgb[:30, :40, ::-1])
    lie = lying_png(tmp_path / 'lie.png')
    code, _, err = _upscale(capsys, str(tmp_path / 'good.png'), str(lie), '-o', str(tmp_path / 'out'),
                            '--weights', str(weights_x2), '-q')
    assert code == 1
    assert err.splitlines() == [
        f"aidn upscale: error: {lie}: declares 60000x60000 pixels (3,600,000,000), beyond the decoder's limit "
        "of 1,073,741,824 pixels (OPENCV_IO_MAX_IMAGE_PIXELS)",
        'aidn upscale: 1 written, 1 failed']
    assert sorted(os.listdir(tmp_path / 'out')) == ['good.png']


def test_the_decoder_limit_follows_opencvs_variable(tmp_path, monkeypatch):
    path = lying_png(tmp_path / 'wide.png', width=3000, height=2)
    image_header.checked_header(path)
    monkeypatch.setenv('OPENCV_IO_MAX_IMAGE_PIXELS', '5000')
    with pytest.raises(image_header.ImageError, match=r'wide.png: declares 3000x2 pixels \(6,000\), beyond .* 5,000'):
        image_header.checked_header(path)


@pytest.mark.parametrize('step', ['subimages', 'lr', 'lmdb', 'edges'])
def test_prepare_names_a_lying_image_and_writes_nothing(tmp_path, photo_rgb, capsys, step):
    folder = tmp_path / 'hr'
    folder.mkdir()
    cv2.imwrite(str(folder / 'a.png'), photo_rgb[:64, :64])
    lie = lying_png(folder / 'b.png')
    output = tmp_path / ('out.lmdb' if step == 'lmdb' else 'out')
    extra = ['--crop-size', '32', '--step', '32'] if step == 'subimages' else []
    code, _, err = call_main(aidn_main, ['prepare', step, str(folder), '-o', str(output), '--workers', '1', *extra],
                             capsys)
    assert code == 2
    assert err.strip().splitlines() == [f'aidn prepare: error: {lie}: declares 60000x60000 pixels (3,600,000,000), '
                                        "beyond the decoder's limit of 1,073,741,824 pixels (OPENCV_IO_MAX_IMAGE_PIXELS)"]
    assert sorted(os.listdir(tmp_path)) == ['hr']  # no output, no staging folder


# ---- frames and palettes

def test_an_animated_gif_is_refused_in_one_line_and_the_others_are_written(tmp_path, photo_rgb, weights_x2, capsys):
    anim = animated_gif(tmp_path / 'anim.gif')
    cv2.imwrite(str(tmp_path / 'good.png'), photo_rgb[:20, :24, ::-1])
    code, _, err = _upscale(capsys, str(anim), str(tmp_path / 'good.png'), '-o', str(tmp_path / 'out'),
                            '--weights', str(weights_x2))
    assert code == 1
    assert err.splitlines() == [
        f'aidn upscale: error: {anim}: 3 frames (animated GIF); aidn upscale takes still images and would keep '
        'only the first: split it into frames (e.g. ffmpeg -i anim.gif frame_%04d.png) and upscale those',
        'aidn upscale: 1 written, 1 failed']
    assert os.listdir(tmp_path / 'out') == ['good.png']  # no first frame written in silence


def test_a_palette_gif_is_written_as_true_colour_png_and_says_so(tmp_path, weights_x2, capsys, model_x2):
    still = palette_gif(tmp_path / 'still.gif')
    code, out, err = _upscale(capsys, str(still), '-o', str(tmp_path / 'out'), '--weights', str(weights_x2))
    assert code == 0 and err == ''
    target = tmp_path / 'out' / 'still.png'
    assert re.fullmatch(rf'{re.escape(str(still))} -> {re.escape(str(target))} \(24x20 -> 48x40, [0-9.]+ s; '
                        r'written as PNG: GIF holds at most 256 colours\)', out.strip().splitlines()[-1]), out
    assert os.listdir(tmp_path / 'out') == ['still.png']
    written = Image.open(target)
    assert written.format == 'PNG' and written.mode == 'RGB' and written.size == (48, 40)  # not a palette
    assert np.array_equal(cv2.imread(str(target), cv2.IMREAD_UNCHANGED),
                          upscale_image(model_x2, cv2.imread(str(still), cv2.IMREAD_UNCHANGED)))


def test_gif_output_is_refused_and_folders_list_gifs(tmp_path, weights_x2, capsys):
    (tmp_path / 'in').mkdir()
    still = palette_gif(tmp_path / 'in' / 'still.gif')
    code, _, err = _upscale(capsys, str(still), '-o', str(tmp_path / 'big.gif'), '--weights', str(weights_x2))
    assert code == 2 and 'big.gif: GIF holds at most 256 colours' in err and len(err.strip().splitlines()) == 1
    code, _, _ = _upscale(capsys, str(tmp_path / 'in'), '-o', str(tmp_path / 'out'), '--weights', str(weights_x2))
    assert code == 0 and os.listdir(tmp_path / 'out') == ['still.png']


def test_multi_page_tiff_is_refused(tmp_path, weights_x2, capsys):
    pages = [Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)) for i in range(2)]
    pages[0].save(tmp_path / 'pages.tif', save_all=True, append_images=pages[1:])
    code, _, err = _upscale(capsys, str(tmp_path / 'pages.tif'), '-o', str(tmp_path / 'out'), '--weights',
                            str(weights_x2), '-q')
    assert code == 1 and '2 frames (multi-page TIFF)' in err and not (tmp_path / 'out').exists()


# ---- memory

def test_an_output_beyond_the_memory_limit_is_refused_before_any_work(tmp_path, photo_rgb, weights_x2, capsys):
    tall = np.ascontiguousarray(photo_rgb[:120, :40, ::-1])
    cv2.imwrite(str(tmp_path / 'tall.png'), tall)
    cv2.imwrite(str(tmp_path / 'tall.jpg'), tall)
    tiling = ['--tile', '16', '--tile-overlap', '4']
    # the PNG is streamed (the input and a few strips of 16 rows); the JPEG is held whole
    assert held_bytes(120, 40, 3, 1, 2, 16, 4, streamed=True) < parse_size('64K')
    assert held_bytes(120, 40, 3, 1, 2, 16, 4, streamed=False) > parse_size('64K')
    code, _, err = _upscale(capsys, str(tmp_path / 'tall.png'), str(tmp_path / 'tall.jpg'), '-o',
                            str(tmp_path / 'out'), '--weights', str(weights_x2), '-q', '--max-memory', '64K', *tiling)
    assert code == 1
    needed = format_bytes(held_bytes(120, 40, 3, 1, 2, 16, 4, streamed=False))
    assert err.splitlines() == [
        f'aidn upscale: error: {tmp_path / "tall.jpg"}: upscaling to 80x240 would hold about {needed}, more than '
        '--max-memory 64.0 KiB; .jpg is encoded from the whole image; write .png or .tif (--ext png), which are '
        'written row by row, or raise --max-memory',
        'aidn upscale: 1 written, 1 failed']
    assert os.listdir(tmp_path / 'out') == ['tall.png']
    code, _, err = _upscale(capsys, str(tmp_path / 'tall.png'), '-o', str(tmp_path / 'out2'), '--weights',
                            str(weights_x2), '--max-memory', 'lots')
    assert code == 2 and "--max-memory: expected a size such as 512M, 4G or 1.5GiB, got 'lots'" in err


def test_sizes_are_parsed_and_memory_grows_with_width_not_height():
    assert [parse_size(t) for t in ('100', '64k', '512M', '1.5GiB', '2G')] == [100, 65536, 512 << 20, 3 << 29, 2 << 30]
    for bad in ('', '-1', 'ten', '5X', '0'):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert strip_height(4320) == strip_height(100000) == 160  # default tile 192, overlap 16
    tall, taller = (held_bytes(h, 7680, 3, 1, 4) - h * 7680 * 3 for h in (4320, 43200))  # minus the input
    assert tall == taller


def test_rows_come_one_row_of_tiles_at_a_time(model_x2, photo_rgb):
    from aidn_plugin.inference.tile_plan import tile_windows
    image = np.ascontiguousarray(photo_rgb[:70, :30, ::-1])
    strips = list(upscale_rows(model_x2, image, tile=24, overlap=4))
    cores = [(start, end) for _, _, start, end in tile_windows(70, 24, 4)]
    assert [(top, top + rows.shape[0]) for top, rows in strips] == [(2 * a, 2 * b) for a, b in cores]
    assert np.array_equal(np.concatenate([rows for _, rows in strips]), upscale_image(model_x2, image, 24, 4))


# ---- streamed writers

LAYOUTS = [((37, 23), np.uint8), ((37, 23, 3), np.uint8), ((37, 23, 4), np.uint8), ((37, 23), np.uint16),
           ((37, 23, 3), np.uint16), ((37, 23, 4), np.uint16)]


@pytest.mark.parametrize('shape, dtype', LAYOUTS, ids=lambda v: str(v))
@pytest.mark.parametrize('writer, big', [(PngRowWriter, None), (TiffRowWriter, False), (TiffRowWriter, True)])
def test_row_writers_round_trip(shape, dtype, writer, big):
    image = np.random.default_rng(0).integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    buffer = io.BytesIO()
    kwargs = {} if writer is PngRowWriter else {'big': big}
    channels = shape[2] if len(shape) == 3 else 1
    out = writer(buffer, 23, 37, channels, dtype, **kwargs)
    for start, end in [(0, 5), (5, 6), (6, 30), (30, 37)]:
        out.write(image[start:end])
    out.close()
    decoded = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_UNCHANGED)
    pillow = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
    if writer is TiffRowWriter and shape == (37, 23, 4) and dtype == np.uint8:
        # libtiff's RGBA reader (OpenCV's, for 8-bit RGBA) premultiplies the declared unassociated alpha
        decoded = None
    if decoded is not None:
        assert decoded.dtype == dtype and np.array_equal(decoded, image)
    if dtype == np.uint8:  # Pillow gives RGB(A) order
        assert np.array_equal(pillow, image[..., [2, 1, 0, 3][:channels]] if channels > 1 else image)


def test_row_writers_refuse_missing_rows():
    out = PngRowWriter(io.BytesIO(), 4, 3, 3, np.uint8)
    out.write(np.zeros((2, 4, 3), np.uint8))
    with pytest.raises(ValueError, match='2 of 3 rows written'):
        out.close()


def test_png_is_written_while_the_rows_come_and_whole_or_not_at_all(tmp_path, model_x2, photo_rgb, monkeypatch):
    monkeypatch.setattr(png_stream, 'CHUNK_BYTES', 1)  # an IDAT chunk per strip, so the file visibly grows
    image = np.ascontiguousarray(photo_rgb[:80, :60, ::-1])
    sizes = []

    def watched(strips):
        for strip in strips:
            yield strip
            sizes.append(sum(p.stat().st_size for p in tmp_path.glob('.out.png.*.part')))

    target = tmp_path / 'out.png'
    write_strips(str(target), watched(upscale_rows(model_x2, image, 24, 4)), 120, 160, 3, np.uint8)
    # on disk before the last strip came (zlib and the file object buffer some, so not after every strip)
    assert len(sizes) == 5 and sizes == sorted(sizes) and 0 < sizes[-2] < target.stat().st_size
    assert np.array_equal(cv2.imread(str(target)), upscale_image(model_x2, image, 24, 4))

    def failing(strips):
        yield next(strips)
        raise RuntimeError('interrupted')

    with pytest.raises(RuntimeError):
        write_strips(str(tmp_path / 'broken.tif'), failing(upscale_rows(model_x2, image, 24, 4)), 120, 160, 3,
                     np.uint8)
    assert sorted(os.listdir(tmp_path)) == ['out.png']  # no partial file, no temporary left


def _image(channels, dtype, photo_rgb):
    """A 50x30 input of ``channels`` (1, 3 or 4: alpha a horizontal ramp) and ``dtype``."""
    bgr = photo_rgb[:50, :30, ::-1].astype(dtype) * (257 if dtype == np.uint16 else 1)
    if channels == 1:
        return np.ascontiguousarray(bgr[:, :, 1])
    if channels == 4:
        alpha = np.tile(np.linspace(0, np.iinfo(dtype).max, 30).astype(dtype), (50, 1))
        return np.dstack((bgr, alpha))
    return np.ascontiguousarray(bgr)


@pytest.mark.parametrize('name, channels, dtype', [('rgba.png', 4, np.uint8), ('rgba16.png', 4, np.uint16),
                                                   ('grey16.tif', 1, np.uint16), ('rgb.tiff', 3, np.uint8),
                                                   ('rgb.jpg', 3, np.uint8)])
def test_command_writes_what_upscale_image_computes(tmp_path, photo_rgb, weights_x2, model_x2, capsys, name,
                                                    channels, dtype):
    """Several strips (tile 16), each layout and depth; PNG and TIFF streamed, JPEG assembled whole."""
    source = tmp_path / ('in' + os.path.splitext(name)[1].replace('jpg', 'png'))
    cv2.imwrite(str(source), _image(channels, dtype, photo_rgb))
    code, _, _ = _upscale(capsys, str(source), '-o', str(tmp_path / name), '--weights', str(weights_x2), '-q',
                          '--tile', '16', '--tile-overlap', '4')
    assert code == 0
    expected = upscale_image(model_x2, cv2.imread(str(source), cv2.IMREAD_UNCHANGED), 16, 4)
    written = cv2.imread(str(tmp_path / name), cv2.IMREAD_UNCHANGED)
    if name.endswith('.jpg'):
        assert written.shape == expected.shape  # lossy: the size only
    else:
        assert written.dtype == expected.dtype and np.array_equal(written, expected)


@pytest.mark.slow
def test_real_command_no_traceback_for_any_bad_input(tmp_path, photo_rgb, weights_x2):
    cv2.imwrite(str(tmp_path / 'good.png'), photo_rgb[:20, :24, ::-1])
    inputs = [tmp_path / 'good.png', lying_png(tmp_path / 'lie.png'), animated_gif(tmp_path / 'anim.gif'),
              palette_gif(tmp_path / 'still.gif')]
    result = run([script('aidn'), 'upscale', *map(str, inputs), '-o', str(tmp_path / 'out'),
                  '--weights', str(weights_x2)])
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith('aidn upscale: error:')]) == 2
    assert sorted(os.listdir(tmp_path / 'out')) == ['good.png', 'still.png']
