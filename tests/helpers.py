"""Small helpers shared by tests (not fixtures): running the console scripts in a real subprocess."""
import os
import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def script(name):
    """Path of an installed console script of this environment (``basicsr``, ``aidn``, ``torchrun``)."""
    path = VENV_BIN / name
    if not path.exists():
        raise FileNotFoundError(f'console script {name!r} is not installed next to {sys.executable}; '
                                'install the package as the README says')
    return str(path)


def run(args, cwd=None, env=None, timeout=600, **kwargs):
    """Run a command; returns CompletedProcess with text stdout/stderr."""
    full_env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    full_env.update(env or {})
    return subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, **kwargs)


def python(code, cwd=None, env=None, timeout=300, args=()):
    """Run Python source in a fresh interpreter of this environment (``args``: its sys.argv[1:])."""
    return run([sys.executable, '-c', code, *args], cwd=cwd, env=env, timeout=timeout)


def free_port():
    """A TCP port on 127.0.0.1 that is free right now."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def write_photo_crops(folder, count, size, seed=0):
    """Write ``count`` RGB PNG crops of ``size`` x ``size`` pixels, cut from scikit-image's photographs at
    random places, as ``img000.png``...; returns the folder."""
    import cv2
    import numpy as np
    from skimage import data
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(seed)
    for index in range(count):
        photo = photos[index % len(photos)]
        top = rng.integers(0, photo.shape[0] - size + 1)
        left = rng.integers(0, photo.shape[1] - size + 1)
        crop = photo[top:top + size, left:left + size]
        cv2.imwrite(str(folder / f'img{index:03d}.png'), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    return folder


def write_tiny_test_set(root, count=2, size=(44, 48)):
    """HR crops and their MATLAB-bicubic x4 LR, named as the benchmark sets are (<stem>x4.png)."""
    import cv2
    from aidn_plugin.utils.bicubic import bicubic_downscale
    hr_dir = write_photo_crops(root / 'HR', count, max(size), seed=3)
    lr_dir = root / 'LR_bicubic' / 'X4'
    lr_dir.mkdir(parents=True)
    for path in sorted(hr_dir.iterdir()):
        hr = cv2.imread(str(path))[:size[0], :size[1]]
        cv2.imwrite(str(path), hr)
        cv2.imwrite(str(lr_dir / f'{path.stem}x4.png'), bicubic_downscale(hr, 4))


def call_main(main, argv, capsys):
    """Run a console script's ``main(argv)`` in this process; returns (exit code, stdout, stderr)."""
    try:
        code = main(list(argv))
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err


def write_image16(path, photo_rgb, height, width):
    """A 16-bit PNG crop of ``photo_rgb`` at ``path`` (backends' outputs then compare at 1/65535 resolution)."""
    import cv2
    import numpy as np
    crop = photo_rgb[100:100 + height, 150:150 + width, ::-1].astype(np.uint16) * 257
    cv2.imwrite(str(path), np.ascontiguousarray(crop))
    return path


def read_image16(path):
    """A 16-bit image file as float64 in [0, 1]."""
    import cv2
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype('float64') / 65535.
