"""The documentation a user reads: a front-page README that points into the docs site, every page in the
site's navigation, citing only files of the repository, links, anchors and module paths that resolve, a
README snippet that BasicSR builds, and full-recipe option files that train on the data the docs tell you
how to prepare."""
import importlib
import re
from pathlib import Path

import pytest

from aidn_plugin.cli.option_checks import load_option_file

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / 'README.md'] + sorted((REPO / 'docs').glob('*.md'))
# what users of the repository read: the docs, the package, the option files, the tests
READ_BY_USERS = DOCS + sorted((REPO / 'aidn_plugin').rglob('*.py')) + sorted((REPO / 'options').glob('*.yml')) + \
    sorted((REPO / 'tests').glob('*.py')) + [REPO / 'setup.cfg', REPO / 'pyproject.toml', REPO / 'mkdocs.yml']
# the notes and the data folder of the team that built the package, which users do not have (spelled in
# pieces, so that this file does not name them either)
TEAM_NOTES = (''.join(('DES', 'IGN', '.md')), '../' + 'sha' + 'red', '/wo' + 'rk/')


@pytest.mark.parametrize('path', READ_BY_USERS, ids=lambda p: str(p.relative_to(REPO)))
def test_cites_nothing_outside_the_repository(path):
    text = path.read_text(encoding='utf-8')
    assert [note for note in TEAM_NOTES if note in text] == []


README_MAX_LINES = 250


def test_readme_is_a_front_page_that_points_at_every_docs_page():
    readme = (REPO / 'README.md').read_text(encoding='utf-8')
    assert len(readme.splitlines()) <= README_MAX_LINES
    pages = sorted(p.name for p in (REPO / 'docs').glob('*.md'))
    assert [name for name in pages if f'(docs/{name})' not in readme] == []


def test_every_docs_page_is_in_the_site_navigation():
    import yaml
    config = yaml.safe_load((REPO / 'mkdocs.yml').read_text(encoding='utf-8'))
    in_nav = sorted(next(iter(item.values())) for item in config['nav'])
    assert in_nav == sorted(p.name for p in (REPO / 'docs').glob('*.md'))


def test_the_readme_option_snippet_builds_in_basicsr():
    from basicsr.archs import build_network
    from basicsr.utils.registry import DATASET_REGISTRY, MODEL_REGISTRY
    import yaml
    readme = (REPO / 'README.md').read_text(encoding='utf-8')
    snippet = yaml.safe_load(re.search(r'```yaml\n(.*?)```', readme, re.S).group(1))
    MODEL_REGISTRY.get(snippet['model_type'])
    DATASET_REGISTRY.get(snippet['datasets']['train']['type'])
    assert build_network(dict(snippet['network_g'])).upscale == snippet['scale']


def _slug(heading):
    """The anchor MkDocs (Python-Markdown's toc) gives a heading: word characters, spaces and hyphens kept,
    lower case, every run of spaces and hyphens one hyphen."""
    text = re.sub(r'[^\w\s-]', '', heading.replace('`', '')).strip().lower()
    return re.sub(r'[-\s]+', '-', text)


@pytest.mark.parametrize('path', DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(path):
    text = path.read_text(encoding='utf-8')
    broken = []
    for target in re.findall(r'\]\(([^)\s]+)\)', text):
        if re.match(r'[a-z]+://', target) or target.startswith('#'):
            continue
        file_part, _, anchor = target.partition('#')
        resolved = (path.parent / file_part).resolve()
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == '.md':
            headings = re.findall(r'^#+ (.+)$', resolved.read_text(encoding='utf-8'), re.M)
            slugs = {_slug(h) for h in headings}
            if anchor not in slugs:
                broken.append(target)
    assert broken == []


def _resolves(dotted):
    """A dotted ``aidn_plugin...`` name is a module, or an attribute of the longest module prefix."""
    parts = dotted.split('.')
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module('.'.join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


@pytest.mark.parametrize('path', DOCS, ids=lambda p: p.name)
def test_module_paths_in_the_docs_exist(path):
    """Every ``aidn_plugin.x.y`` and ``aidn_plugin/x/y.py`` the docs name is there (the "before" column of
    the README's table of moved modules excepted)."""
    text = path.read_text(encoding='utf-8')
    moved = text.partition('Modules that moved')[2].partition('\n\n|')[2].partition('\n\n')[0]
    moved_before = set(re.findall(r'^\| ([^|]+) \|', moved, re.M))
    stale = []
    for line in text.splitlines():
        cells = line.split('|')
        if len(cells) > 2 and cells[1].strip() in moved_before:
            line = '|'.join(cells[2:])  # the "now" column only
        for dotted in re.findall(r'\baidn_plugin(?:\.[A-Za-z_]\w*)+', line):
            if not _resolves(dotted):
                stale.append(dotted)
        for file_path in re.findall(r'\baidn_plugin/[\w/]+\.py\b', line):
            if not (REPO / file_path).is_file():
                stale.append(file_path)
    assert stale == []


def test_full_recipe_option_files_train_on_the_data_the_docs_prepare():
    """DF2K everywhere: the option files read what the commands of docs/training.md write."""
    training = (REPO / 'docs' / 'training.md').read_text(encoding='utf-8')
    assert 'DF2K sub-images in LMDB' in training
    for scale in (2, 3, 4):
        opt = load_option_file(REPO / 'options' / f'train_AIDN_x{scale}.yml')
        train = opt['datasets']['train']
        assert train['name'] == 'DF2K'
        for key in ('dataroot_gt', 'dataroot_lq'):
            assert train[key].startswith('datasets/DF2K/')
            assert f'-o {train[key]}' in training, f'docs/training.md does not make {train[key]}'
        assert train['meta_info_file'] == train['dataroot_gt'] + '/meta_info.txt'
    for path in [REPO / 'README.md', *(REPO / 'options').glob('*.yml'), REPO / 'docs' / 'training.md']:
        assert 'DIV2K_train_HR_sub' not in path.read_text(encoding='utf-8'), path.name
