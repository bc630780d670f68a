"""Shared fixtures. Tests read no data from outside the repository: images come from scikit-image (a BasicSR
dependency that ships photographs) or from the committed demo set."""
import numpy as np
import pytest
import torch

import aidn_plugin  # noqa: F401  (compat layer + registration, as a user's script would do)

# A network small enough for CPU tests that still has every part (two blocks, two taps, attention).
TINY_AIDN = dict(num_feat=8, num_block=2, num_out=2)


@pytest.fixture
def tiny_aidn_kwargs():
    return dict(TINY_AIDN)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope='session')
def photo_rgb():
    """A 512x512 RGB uint8 photograph (scikit-image's astronaut), H x W x 3, RGB order."""
    from skimage import data
    return data.astronaut()
