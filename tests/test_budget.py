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


def test_the_architecture_pages_budget_table_is_what_the_counter_says():
    """Every row of docs/architecture.md's budget table, recounted (AIDN light's row with its two options)."""
    import re
    from pathlib import Path
    page = (Path(__file__).resolve().parents[1] / 'docs' / 'architecture.md').read_text(encoding='utf-8')
    section = page.split('## Budget', 1)[1].split('\n## ', 1)[0]
    rows = re.findall(r'^\| x(\d) \| (.+?) \| ([\d,]+) \| ([\d.]+) G \((\d+)x(\d+)\) \|$', section, re.M)
    assert len(rows) >= 5
    for scale, form, params, macs, width, height in rows:
        options = {'num_block': 6, 'num_out': 1} if 'light' in form else {}
        net = AIDN(upscale=int(scale), **options)
        net = net if form.startswith('unfused') else net.fuse()
        stats = count_complexity(net, (int(width), int(height)), int(scale))
        assert (stats['params'], round(stats['macs'] / 1e9, 2)) == (int(params.replace(',', '')), float(macs)), form
