"""The quality campaign's tables: means, spreads, the verdict on the noise and the targets, from cells."""
import pytest

from scripts.bench.quality_report import compare, markdown, spread_verdict, summarize_cells

SETS = ('Set14', 'B100')


def _cells(per_seed):
    """{seed: cell} with the given (Set14, B100) Y-PSNR per seed."""
    return {seed: {'sets': {name: {'psnr': psnr, 'ssim': 0.7, 'images': 14} for name, psnr in zip(SETS, values)},
                   'train_seconds': 60.0}
            for seed, values in enumerate(per_seed)}


def _report(networks):
    models = {}
    for model, per_seed in networks.items():
        cells = _cells(per_seed)
        models[model] = {'label': model.upper(), 'params': 300000, 'sets': summarize_cells(cells, SETS),
                         'seeds': {str(s): {'sets': c['sets'], 'train_seconds': 60.0} for s, c in cells.items()}}
    report = {'meta': {'date': '2026-12-01 12:00', 'cpu': 'test cpu', 'logical_cores': 2},
              'settings': {'iters': 1500, 'batch': 16, 'patch': 128, 'lr': 1e-3, 'eta_min': 1e-6,
                           'ema_decay': 0.0, 'enlarge': 100, 'sets': list(SETS)},
              'cells_dir': 'cells', 'data': {'images': 284, 'description': 'T91, BSD200'}, 'models': models}
    report['difference'], report['targets'] = compare(report, list(SETS))
    return report


def test_summary_has_mean_std_and_range():
    summary = summarize_cells(_cells([(28.0, 27.0), (28.1, 27.2), (28.2, 27.1)]), SETS)
    assert summary['Set14']['psnr'] == pytest.approx(28.1)
    assert summary['Set14']['psnr_std'] == pytest.approx(0.1)
    assert summary['Set14']['psnr_range'] == pytest.approx(0.2)
    assert summary['B100']['psnr_range'] == pytest.approx(0.2)
    one = summarize_cells(_cells([(28.0, 27.0)]), SETS)
    assert one['Set14']['psnr_std'] is None and one['Set14']['psnr_range'] is None


def test_verdict_compares_the_difference_with_the_larger_seed_range():
    assert spread_verdict(0.05, {'psnr_range': 0.02}, {'psnr_range': 0.04}) == (0.04, True)
    assert spread_verdict(-0.03, {'psnr_range': 0.02}, {'psnr_range': 0.04}) == (0.04, False)
    assert spread_verdict(1.0, {'psnr_range': None}, {'psnr_range': 0.04}) == (None, None)


def test_differences_and_edge_targets():
    report = _report({'aidn': [(28.00, 27.00), (28.02, 27.01), (28.01, 27.02)],
                      'aidn_noedge': [(27.99, 27.00), (28.01, 27.00), (28.00, 27.01)],
                      'aidn_edgegate': [(28.10, 27.10), (28.11, 27.09), (28.12, 27.11)]})
    gate = report['difference']['aidn_edgegate']['Set14']
    assert gate['psnr'] == pytest.approx(0.10) and gate['beyond_spread'] is True
    noedge = report['difference']['aidn_noedge']['Set14']
    assert noedge['psnr'] == pytest.approx(-0.01) and noedge['beyond_spread'] is False
    targets = report['targets']
    assert targets['Set14 mean Y-PSNR, AIDN_EDGEGATE - without edges (dB)']['met'] is True
    assert targets['Set14 mean Y-PSNR, AIDN - without edges (dB)']['met'] is False
    assert not any('SAFMN' in key for key in targets)  # no SAFMN in this report, no SAFMN target
    text = markdown(report)
    assert '| AIDN_EDGEGATE - AIDN | +0.100 / +0.0000 beyond 0.020 |' in text
    assert '| AIDN_NOEDGE - AIDN | -0.010 / +0.0000 within 0.020 |' in text


def test_safmn_target_and_one_seed_gives_no_verdict():
    report = _report({'aidn': [(28.0, 27.2)], 'safmn': [(27.5, 26.9)]})
    assert report['difference']['safmn']['B100']['beyond_spread'] is None
    assert report['targets']['B100 mean Y-PSNR, AIDN - SAFMN (dB)'] == {'value': pytest.approx(0.3),
                                                                         'target': '>= 0', 'met': True}
    assert '| SAFMN - AIDN | -0.500 / +0.0000 | -0.300 / +0.0000 |' in markdown(report)
