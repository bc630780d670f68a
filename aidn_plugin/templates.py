"""The BasicSR option templates shipped inside the package (``aidn_plugin/options/*.yml``).

The repository's ``options/`` folder is a link to that same folder, so a clone and a pip install read the
same files. ``aidn options list | show NAME | copy NAME... [--to DIR]`` is the command line over these
functions:

    from aidn_plugin import templates
    templates.names()                               # ['campaign_AIDN_x2', ..., 'train_AIDN_x4_demo']
    templates.describe('train_AIDN_x4')             # the template's first comment line
    templates.copy('train_AIDN_x4', 'options')      # -> 'options/train_AIDN_x4.yml'

Errors a user can make (an unknown name, an existing file) raise :class:`TemplateError` with one line.
"""
import os

TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'options')
SUFFIX = '.yml'


class TemplateError(ValueError):
    """An unknown template name or a copy that would replace a file; the message says which."""


def names():
    """The names of the shipped templates (file names without ``.yml``), sorted."""
    return sorted(name[:-len(SUFFIX)] for name in os.listdir(TEMPLATE_DIR) if name.endswith(SUFFIX))


def path(name):
    """The packaged file of template ``name`` (``train_AIDN_x4`` or ``train_AIDN_x4.yml``)."""
    stem = name[:-len(SUFFIX)] if name.endswith(SUFFIX) else name
    if stem not in names():
        raise TemplateError(f'no option template {name!r}; the templates are: {", ".join(names())} '
                            '(aidn options list)')
    return os.path.join(TEMPLATE_DIR, stem + SUFFIX)


def text(name):
    """The template's whole text."""
    with open(path(name), encoding='utf-8') as handle:
        return handle.read()


def describe(name):
    """The template's first comment line (what it is for), without the ``#``."""
    for line in text(name).splitlines():
        if line.startswith('#'):
            return line.lstrip('#').strip()
    return ''


def copy(name, folder='options', overwrite=False):
    """Write template ``name`` to ``folder/<name>.yml`` (atomically) and return that path.

    Args:
        name (str): a name from :func:`names`.
        folder (str): the destination folder, created if needed; default ``options`` (relative to the
            current directory), so ``basicsr train -opt options/<name>.yml`` runs it from there.
        overwrite (bool): replace an existing file; without it an existing file is a TemplateError and
            stays as it was.
    """
    from aidn_plugin.utils.atomic import write_text
    source = path(name)
    target = os.path.join(folder, os.path.basename(source))
    if os.path.exists(target) and not overwrite:
        raise TemplateError(f'{target} exists; pass overwrite=True to replace it')
    write_text(target, text(name))
    return target
