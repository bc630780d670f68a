"""Every published figure agrees with the committed file a script wrote it from.

The zoo table's Y-PSNR (``aidn_plugin/zoo/weights/published.json``) against the ``basicsr test`` runs of
``scripts/bench/zoo_eval.py`` (``benchmarks/zoo_eval/<name>.json``); the README's and the docs' tables against
those files, against the benchmark reports (``benchmarks/speed.json``, ``quality.json``, ``ablation.json``,
``edges.json``) and against the weights campaign's logs (``benchmarks/weights_campaign/``). Only committed
files are read: no data set is needed.
"""
import json
import re
from pathlib import Path

import pytest

from aidn_plugin.zoo.registry import ZOO

REPO = Path(__file__).resolve().parent.parent
PAGES = {'README': REPO / 'README.md', 'model-zoo': REPO / 'docs' / 'model-zoo.md',
         'benchmarks': REPO / 'docs' / 'benchmarks.md', 'inference': REPO / 'docs' / 'inference.md'}


def _json(relative):
    return json.loads((REPO / relative).read_text(encoding='utf-8'))


def _section(page, title):
    """The text of ``page`` (a key of PAGES) from the heading ``title`` to the next heading of the same or a
    higher level."""
    text = PAGES[page].read_text(encoding='utf-8')
    match = re.search(rf'^(#+) {re.escape(title)}\s*$', text, flags=re.M)
    assert match, f'{page} has no section {title!r}'
    level = len(match.group(1))
    end = re.search(rf'^#{{1,{level}}} ', text[match.end():], flags=re.M)
    return text[match.end():match.end() + end.start()] if end else text[match.end():]


def _rows(text):
    """Markdown table rows of ``text`` as lists of stripped cells (header and rule rows included)."""
    return [[c.strip() for c in line.strip().strip('|').split('|')] for line in text.splitlines()
            if line.strip().startswith('|')]


def _numbers(cell):
    return [float(v) for v in re.findall(r'[-+]?\d+\.\d+', cell.replace('**', ''))]


@pytest.mark.parametrize('name', sorted(ZOO))
def test_zoo_entry_matches_its_basicsr_test_run(name):
    entry = ZOO[name]
    assert entry.evidence, f'{name}: the zoo entry names no evidence file'
    evidence = _json(entry.evidence)
    assert evidence['name'] == name and evidence['scale'] == entry.scale
    assert evidence['filename'] == entry.filename and evidence['sha256'] == entry.sha256  # the shipped file
    assert set(evidence['sets']) == set(entry.psnr)
    for set_name, value in entry.psnr.items():
        assert round(evidence['sets'][set_name]['psnr'], 2) == value, (name, set_name)
    assert evidence['command'].startswith('python -m scripts.bench.zoo_eval')
    assert evidence['meta']['date'] and evidence['meta']['cpu']


@pytest.mark.parametrize('page, section', [('README', 'Model zoo'), ('model-zoo', 'Named weights')])
def test_zoo_tables_match_the_evidence(page, section):
    rows = {r[0].strip('`'): r for r in _rows(_section(page, section)) if r[0].startswith('`aidn_')}
    assert set(rows) == set(ZOO), f'the {page} zoo table lists other names than the zoo'
    for name, row in rows.items():
        sets = _json(ZOO[name].evidence)['sets']
        header = _rows(_section(page, section))[0]
        for set_name in ('Set5', 'Set14', 'B100'):
            cell = row[header.index(set_name)]
            assert _numbers(cell)[0] == round(sets[set_name]['psnr'], 2), (name, set_name, cell)


def test_trained_weights_table_matches_the_evidence():
    table = _rows(_section('model-zoo', 'Trained weights'))
    header = table[0]
    seen = set()
    for row in table:
        found = re.search(r'`(aidn_(?:light_)?x\d)`', row[1]) if len(row) > 1 else None
        if not found:
            continue
        name = found.group(1)
        seen.add(name)
        sets = _json(ZOO[name].evidence)['sets']
        for set_name in ('Set5', 'Set14', 'B100'):
            psnr, ssim = _numbers(row[header.index(set_name)])
            assert (psnr, ssim) == (round(sets[set_name]['psnr'], 2), round(sets[set_name]['ssim'], 4)), (
                name, set_name)
    assert seen == set(ZOO)


def _tables(markdown_text):
    """The Markdown tables of ``markdown_text``, each as its list of lines."""
    tables, previous = [], False
    for line in markdown_text.splitlines():
        row = line.startswith('|')
        if row and not previous:
            tables.append([])
        if row:
            tables[-1].append(line)
        previous = row
    return tables


def _report_table(module, report_file):
    import importlib
    return importlib.import_module(module).markdown(_json(report_file))


def _campaign_table(_module, _report_file):
    from scripts.bench import campaign
    return campaign.markdown_table(campaign.read_logs())


def _cost_table(_module, speed_file):
    from scripts.bench import quality_report
    speed = _json(speed_file)
    reports = [_json('benchmarks/quality.json'), _json('benchmarks/quality_12k.json')]
    return quality_report.cost_markdown(quality_report.training_cost(reports, speed), speed)


def _warmstart_table(_module, report_file):
    from scripts.bench import campaign
    return campaign.warmstart_markdown(_json(report_file))


@pytest.mark.parametrize('page, section, render, report_file, which', [
    # the speed report's table
    ('benchmarks', 'Size, memory and training step', _report_table, 'benchmarks/speed.json', slice(None)),
    # every table of the quality reports: means, differences with their verdicts, every seed, targets
    ('benchmarks', 'Quality under an equal budget (x4)', _report_table, 'benchmarks/quality.json', slice(None)),
    ('benchmarks', 'Quality under an equal budget (x4)', _report_table, 'benchmarks/quality_12k.json', slice(None)),
    ('benchmarks', 'Quality under an equal budget (x4)', _report_table, 'benchmarks/quality_srvgg.json', slice(None)),
    ('benchmarks', "Ablation of AIDN's parts", _report_table, 'benchmarks/ablation.json', slice(None)),
    ('benchmarks', 'Edge designs', _report_table, 'benchmarks/edges.json', slice(None)),
    # the weights campaign: every chunk of every scale, and the warm-start check's arms and difference
    ('model-zoo', 'How the weights were trained', _campaign_table, None, slice(None)),
    # every network at its best runtime, per CPU class
    ('benchmarks', 'Every network at its best CPU runtime', _report_table, 'benchmarks/runtimes_avx512bf16_2t.json',
     slice(None)),
    ('benchmarks', 'Every network at its best CPU runtime', _report_table, 'benchmarks/runtimes_avx512bf16_1t.json',
     slice(None)),
    # quality against training hours
    ('benchmarks', 'Quality against training time', _cost_table, 'benchmarks/speed.json', slice(None)),
    # the bf16 changes that --precision auto decides by
    ('inference', 'Precision: fp32, bf16 and `auto`', _report_table, 'benchmarks/precision_quality.json', slice(None)),
    ('model-zoo', 'How the weights were trained', _warmstart_table, 'benchmarks/weights_campaign/warmstart_x4.json',
     slice(None)),
], ids=lambda v: v if isinstance(v, str) else None)
def test_docs_table_is_the_reports_table(page, section, render, report_file, which):
    """The docs show the benchmark's own table, regenerated here from the committed file: a figure edited by
    hand, or a report re-run without updating the docs, fails."""
    module = {'benchmarks/speed.json': 'scripts.bench.speed',
              'benchmarks/precision_quality.json': 'scripts.bench.precision_quality'}.get(report_file,
                                                                                          'scripts.bench.quality')
    if report_file and report_file.startswith('benchmarks/runtimes_'):
        module = 'scripts.bench.runtimes'
    expected = [line for table in _tables(render(module, report_file))[which] for line in table]
    shown = [line.strip() for line in _section(page, section).splitlines()]
    missing = [line for line in expected if line.strip() not in shown]
    assert expected and not missing, f'{page} {section!r} differs from {report_file}: {missing[:2]}'


def test_warm_start_report_verdict_follows_its_differences():
    report = _json('benchmarks/weights_campaign/warmstart_x4.json')
    assert report['warm_start_beats_scratch'] == all(v > 0 for v in report['difference_psnr'].values())


@pytest.mark.parametrize('name', sorted(ZOO))
def test_zoo_bf16_changes_match_their_measurement(name):
    entry = ZOO[name]
    report = _json(entry.bf16_evidence)
    measured = report['models'][name]
    assert measured['file'] == entry.filename  # measured on the shipped file
    for backend, changes in entry.bf16_psnr_change.items():
        assert changes == {s: measured['sets'][s]['change_db'][f'{backend}_bf16'] for s in changes}
    assert report['command'].startswith('python -m scripts.bench.precision_quality')
    assert report['machine']['cpu'] and report['machine']['cpu_flags']


def test_aidn_light_chunks_table_matches_its_log():
    """The model-zoo page's table of aidn_light_x4's training chunks, row by row against their log."""
    log = _json('benchmarks/weights_campaign/light_x4.json')
    shown = _section('model-zoo', 'How the weights were trained')
    for row in log['chunks']:
        psnr = ' | '.join(f'{row["sets"][name]["psnr"]:.2f}' for name in ('Set5', 'Set14', 'B100'))
        gain = '-' if row['gain_set5'] is None else f'{row["gain_set5"]:+.3f}'
        assert f'| {row["cumulative_iterations"]:,} | {psnr} | {gain} | {"yes" if row["published"] else "no"}' in shown
