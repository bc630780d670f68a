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


def python(code, cwd=None, env=None, timeout=300):
    """Run Python source in a fresh interpreter of this environment."""
    return run([sys.executable, '-c', code], cwd=cwd, env=env, timeout=timeout)
