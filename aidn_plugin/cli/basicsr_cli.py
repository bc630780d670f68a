"""The ``basicsr`` console script: ``basicsr train|test -opt FILE [BasicSR's flags]``.

It loads every BasicSR plugin (entry-point group ``basicsr.plugins``), applies the compat layer, checks
the flags and the option file, then hands over to BasicSR's own ``train_pipeline`` / ``test_pipeline``
with the current directory as root, so ``experiments/``, ``results/`` and ``tb_logger/`` land where the
user stands. The flags are BasicSR's: ``-opt``, ``--launcher``, ``--auto_resume``, ``--debug``,
``--local_rank`` and ``--force_yml``.
"""
import os
import sys

from aidn_plugin.cli.errors import OneLineParser, UsageError, fail

SUBCOMMANDS = {
    'train': 'train a model with BasicSR\'s train_pipeline',
    'test': 'evaluate a model with BasicSR\'s test_pipeline',
}


def _flag_parser(subcommand):
    """A parser with BasicSR's own flags, used to check them (and for ``--help``) before the handover."""
    parser = OneLineParser(prog=f'basicsr {subcommand}', description=SUBCOMMANDS[subcommand])
    parser.add_argument('-opt', required=True, help='path to the option YAML file')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='job launcher')
    parser.add_argument('--auto_resume', action='store_true', help='resume from the newest training state')
    parser.add_argument('--debug', action='store_true', help='debug mode (prefix the experiment name with debug_)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help='set by old launchers')
    parser.add_argument('--force_yml', nargs='+', default=None, help='override options, e.g. train:ema_decay=0.999')
    return parser


def _main_help(plugins):
    lines = ['usage: basicsr {train,test} -opt FILE [--launcher {none,pytorch,slurm}] [--auto_resume] [--debug]',
             '                [--force_yml KEY=VALUE ...]', '', 'BasicSR pipelines with plugins loaded.', '',
             'subcommands:']
    lines += [f'  {name:<8}{text}' for name, text in SUBCOMMANDS.items()]
    lines += ['', 'plugins loaded (entry-point group basicsr.plugins):']
    lines += [f'  {name}' for name in plugins] or ['  (none)']
    lines += ['', 'Run "basicsr train --help" for the flags.']
    return '\n'.join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help'):
        from aidn_plugin.cli.plugins import load_plugins
        print(_main_help(load_plugins()))
        return 0 if argv else 2
    subcommand, flags = argv[0], argv[1:]
    if subcommand not in SUBCOMMANDS:
        fail(f"basicsr: error: unknown subcommand {subcommand!r} (expected one of: {', '.join(SUBCOMMANDS)})")
    args = _flag_parser(subcommand).parse_args(flags)
    if not os.path.isfile(args.opt):
        fail(f'basicsr {subcommand}: error: option file not found: {args.opt}')

    from aidn_plugin.cli.plugins import load_plugins
    load_plugins()
    from aidn_plugin.registration import register_basicsr
    register_basicsr()  # compat layer and AIDN's registration, also when no plugin is declared
    from aidn_plugin.cli.option_checks import check_option_file
    try:
        check_option_file(args.opt, subcommand, args)
    except UsageError as error:
        fail(f'basicsr {subcommand}: error: {error}')

    # BasicSR's parse_options reads sys.argv itself.
    sys.argv = [f'basicsr {subcommand}'] + flags
    root = os.getcwd()
    if subcommand == 'train':
        import basicsr.train
        basicsr.train.train_pipeline(root)
    else:
        import basicsr.test
        basicsr.test.test_pipeline(root)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
