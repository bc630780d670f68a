"""Checks of a BasicSR option file before any work starts, so a mistake costs one line, not a traceback
half-way into a run. Each check raises :class:`~aidn_plugin.cli.errors.UsageError` naming the key."""
import yaml

from aidn_plugin.cli.errors import UsageError


def load_option_file(path):
    """Parse an option YAML file as BasicSR does (ordered mappings, ``!!float``)."""
    from basicsr.utils.options import ordered_yaml
    try:
        with open(path, encoding='utf-8') as handle:
            opt = yaml.load(handle, Loader=ordered_yaml()[0])
    except yaml.YAMLError as error:
        raise UsageError(f'{path}: not valid YAML: {error}'.replace('\n', ' ')) from None
    if not isinstance(opt, dict):
        raise UsageError(f'{path}: expected a mapping of options at the top level, got {type(opt).__name__}')
    return opt


def check_option_file(path, subcommand, args):
    """Check the option file ``path`` for ``basicsr train`` / ``basicsr test`` (``args``: parsed flags)."""
    opt = load_option_file(path)
    for key in ('name', 'model_type', 'datasets', 'network_g', 'path'):
        if key not in opt:
            raise UsageError(f'{path}: missing required top-level key {key!r}')
    return opt
