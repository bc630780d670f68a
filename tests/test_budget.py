"""The default network stays inside its budget (docs/architecture.md), counted with mmengine.analysis."""
import pytest

from aidn_plugin.archs.aidn_arch import AIDN
from aidn_plugin.archs.complexity import count_complexity


def test_x4_fused_budget():
    stats = count_complexity(AIDN(upscale=4).fuse(), (1280, 720), 4)
    assert 200_000 <= stats['params'] <= 320_000
    assert stats['macs'] <= 20e9


def test_counts_match_a_hand_count_for_a_plain_conv():
    import torch.nn as nn
    conv = nn.Conv2d(3, 8, 3, padding=1)
    stats = count_complexity(conv, (40, 20), scale=1)
    assert stats['params'] == 3 * 8 * 9 + 8
    assert stats['macs'] == 3 * 8 * 9 * 40 * 20


def test_output_size_must_divide_by_scale():
    with pytest.raises(ValueError, match='not a multiple of the scale 3'):
        count_complexity(AIDN(upscale=3, num_feat=8, num_block=2, num_out=2), (1280, 720), 3)
