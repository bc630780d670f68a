"""``aidn options list | show NAME | copy NAME... [--to DIR] [--force]``: the packaged option templates.

A pip install carries the same BasicSR option files as a clone's ``options/`` folder. ``copy`` writes them
to ``options/`` under the current directory by default, so the documented commands run unchanged:

    aidn options copy train_AIDN_x4
    basicsr train -opt options/train_AIDN_x4.yml
"""
from aidn_plugin.cli.errors import UsageError


def add_parser(sub):
    parser = sub.add_parser('options', help='list, show and copy the BasicSR option templates',
                            description='The BasicSR option files shipped with the package (train, test, demo, '
                                        'the zoo weights\' recipes).')
    actions = parser.add_subparsers(dest='options_action', metavar='ACTION', required=True)
    actions.add_parser('list', help='every template with its first comment line')
    show = actions.add_parser('show', help='print one template')
    show.add_argument('name', metavar='NAME')
    copy = actions.add_parser('copy', help='copy templates to DIR (default: options/ here)')
    copy.add_argument('names', nargs='+', metavar='NAME')
    copy.add_argument('--to', default='options', metavar='DIR', help='destination folder; default options')
    copy.add_argument('--force', action='store_true', help='replace files that exist')
    parser.set_defaults(run=run)


def run(args):
    from aidn_plugin import templates
    try:
        if args.options_action == 'list':
            names = templates.names()
            width = max(len(name) for name in names)
            for name in names:
                print(f'{name:<{width}}  {templates.describe(name)}')
        elif args.options_action == 'show':
            print(templates.text(args.name), end='')
        else:
            for name in args.names:  # all names checked before anything is written
                templates.path(name)
            for name in args.names:
                target = templates.copy(name, args.to, overwrite=args.force)
                print(f'wrote {target}')
    except templates.TemplateError as error:
        raise UsageError(str(error).replace('overwrite=True', '--force')) from None
    return 0
