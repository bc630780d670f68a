"""Every published figure agrees with the committed file a script wrote it from.

The zoo table's Y-PSNR (``aidn_plugin/zoo/weights/published.json``) against the ``basicsr test`` runs of
``scripts/bench/zoo_eval.py`` (``benchmarks/zoo_eval/<name>.json``), and the README's tables against those
files and against the benchmark reports (``benchmarks/speed.json``, ``quality.json``, ``ablation.json``,
``edges.json``, ``weights_campaign/warmstart_x4.json``). Only committed files are read: no data set is needed.
"""
import json
import re
from pathlib import Path

import pytest

from aidn_plugin.zoo.registry import ZOO

REPO = Path(__file__).resolve().parent.parent
README = (REPO / 'README.md').read_text(encoding='utf-8')


def _json(relative):
    return json.loads((REPO / relative).read_text(encoding='utf-8'))


def _section(title):
    """The README text from the heading ``title`` to the next heading of the same or a higher level."""
    match = re.search(rf'^(#+) {re.escape(title)}\s*$', README, flags=re.M)
    assert match, f'README has no section {title!r}'
    level = len(match.group(1))
    end = re.search(rf'^#{{1,{level}}} ', README[match.end():], flags=re.M)
    return README[match.end():match.end() + end.start()] if end else README[match.end():]


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


def test_readme_zoo_table_matches_the_evidence():
    rows = {r[0].strip('`'): r for r in _rows(_section('Model zoo')) if r[0].startswith('`aidn_')}
    assert set(rows) == set(ZOO), 'the README zoo table lists other names than the zoo'
    for name, row in rows.items():
        sets = _json(ZOO[name].evidence)['sets']
        header = _rows(_section('Model zoo'))[0]
        for set_name in ('Set5', 'Set14', 'B100'):
            cell = row[header.index(set_name)]
            assert _numbers(cell)[0] == round(sets[set_name]['psnr'], 2), (name, set_name, cell)


def test_readme_trained_weights_table_matches_the_evidence():
    table = _rows(_section('Trained weights'))
    header = table[0]
    seen = set()
    for row in table:
        found = re.search(r'`(aidn_x\d)`', row[1]) if len(row) > 1 else None
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


@pytest.mark.parametrize('section, report_file, module, which', [
    # the speed report's first table (the profile of AIDN's operators is left to benchmarks/speed.md)
    ('Speed, memory, training step (x4, 320x180 -> 1280x720, CPU)', 'benchmarks/speed.json', 'scripts.bench.speed',
     slice(0, 1)),
    # every table of the quality reports: means, differences with their verdicts, every seed, targets
    ('Quality under an equal budget (x4)', 'benchmarks/quality.json', 'scripts.bench.quality', slice(None)),
    ('Quality under an equal budget (x4)', 'benchmarks/quality_12k.json', 'scripts.bench.quality', slice(None)),
    ("Ablation of AIDN's parts", 'benchmarks/ablation.json', 'scripts.bench.quality', slice(None)),
    ('Edge designs', 'benchmarks/edges.json', 'scripts.bench.quality', slice(None)),
    # the weights campaign's warm-start check: both arms and their difference
    ('Weights campaign: more iterations, x3 and x4 warm-started from x2', 'benchmarks/weights_campaign/warmstart_x4.json',
     'scripts.weights_campaign.warmstart', slice(None)),
])
def test_readme_benchmark_table_is_the_reports_table(section, report_file, module, which):
    """The README shows the benchmark's own table, regenerated here from the committed report: a figure
    edited by hand, or a report re-run without updating the README, fails."""
    import importlib
    bench = importlib.import_module(module)
    expected = [line for table in _tables(bench.markdown(_json(report_file)))[which] for line in table]
    shown = _section(section).splitlines()
    missing = [line for line in expected if line not in shown]
    assert not missing, f'README {section!r} differs from {report_file}: {missing[:2]}'


def test_warm_start_report_verdict_follows_its_differences():
    report = _json('benchmarks/weights_campaign/warmstart_x4.json')
    assert report['warm_start_beats_scratch'] == all(v > 0 for v in report['difference_psnr'].values())
