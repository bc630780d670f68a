"""The ``aidn`` console script: tools around AIDN (``aidn --help`` lists them)."""
import os
import sys
from importlib import import_module

from aidn_plugin.version import __version__
from aidn_plugin.cli.errors import OneLineParser, UsageError, fail


# Each module defines add_parser(subparsers), which registers one subcommand with set_defaults(run=...).
SUBCOMMAND_MODULES = ('profile_cmd', 'prepare_cmd', 'options_cmd', 'zoo_cmd', 'upscale_cmd', 'export_cmd')


def build_parser():
    parser = OneLineParser(prog='aidn', description='AIDN super-resolution tools (aidn-plugin).')
    parser.add_argument('--version', action='version', version=f'aidn-plugin {__version__}')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name in SUBCOMMAND_MODULES:
        import_module(f'aidn_plugin.cli.{name}').add_parser(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.run(args) or 0
    except UsageError as error:
        fail(f'aidn {args.command}: error: {error}')
    except BrokenPipeError:
        # `aidn zoo list | head`: the reader left; stop quietly, and keep Python's exit-time flush from
        # raising again on the closed pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == '__main__':
    raise SystemExit(main())
