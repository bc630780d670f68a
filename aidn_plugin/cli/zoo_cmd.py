"""``aidn zoo list | info NAME | download NAME... | path NAME``: the named, sha256-checked weights."""
from aidn_plugin.cli.errors import UsageError


def add_parser(sub):
    parser = sub.add_parser('zoo', help='list, inspect and download named weights',
                            description='Named AIDN weights: downloads go to torch hub\'s cache '
                            '($TORCH_HOME/hub/checkpoints) and are checked against their sha256.')
    actions = parser.add_subparsers(dest='zoo_action', metavar='ACTION', required=True)
    actions.add_parser('list', help='the table of named weights, with Y-PSNR and where each file is')
    info = actions.add_parser('info', help='every field of one entry (data, recipe, URL, sha256, license)')
    info.add_argument('name', metavar='NAME')
    download = actions.add_parser('download', help='download and verify weights (nothing to do when packaged or cached)')
    download.add_argument('names', nargs='+', metavar='NAME')
    download.add_argument('--force', action='store_true', help='download again even when a verified copy exists')
    download.add_argument('-q', '--quiet', action='store_true', help='no progress bar')
    path = actions.add_parser('path', help='print the path of verified local weights (never downloads)')
    path.add_argument('name', metavar='NAME')
    parser.set_defaults(run=run)


def _entry(name):
    from aidn_plugin import zoo
    try:
        return zoo.get_entry(name)
    except zoo.UnknownModelError as error:
        raise UsageError(str(error)) from None


def _list():
    from aidn_plugin import zoo
    if not zoo.ZOO:
        print('The model zoo has no published weights yet; use --weights PATH with your own checkpoint.')
        return 0
    sets = ('Set5', 'Set14', 'B100')
    header = ['name', 'scale'] + [f'{s} Y-PSNR' for s in sets] + ['license', 'status']
    rows = [[e.name, f'x{e.scale}'] + [f'{e.psnr[s]:.2f}' if s in e.psnr else '-' for s in sets]
            + [e.license, zoo.status(e)] for e in zoo.ZOO.values()]
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    for row in [header] + rows:
        print('  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def _info(name):
    from aidn_plugin import zoo
    entry = _entry(name)
    fields = [('name', entry.name), ('scale', f'x{entry.scale}'),
              ('arch', ', '.join(f'{k}={v!r}' for k, v in entry.arch.items())),
              ('Y-PSNR', ', '.join(f'{k} {v:.2f} dB' for k, v in entry.psnr.items()) or '-'),
              ('training data', entry.train_data), ('recipe', entry.recipe), ('license', entry.license),
              ('file', entry.filename), ('sha256', entry.sha256), ('url', entry.url),
              ('status', zoo.status(entry))]
    if entry.notes:
        fields.append(('notes', entry.notes))
    for key, value in fields:
        print(f'{key:<14}{value}')
    return 0


def run(args):
    from aidn_plugin import zoo
    if args.zoo_action == 'list':
        return _list()
    if args.zoo_action == 'info':
        return _info(args.name)
    if args.zoo_action == 'path':
        entry = _entry(args.name)
        path = zoo.find_local(entry)
        if path is None:
            raise UsageError(f'{args.name} is not downloaded (run: aidn zoo download {args.name})')
        print(path)
        return 0
    entries = [_entry(name) for name in args.names]  # every name checked before any download starts
    for entry in entries:
        print(_download(entry, args.force, args.quiet))
    return 0


def _download(entry, force, quiet):
    """One line saying where the verified file is and whether anything was fetched for it."""
    from aidn_plugin import zoo
    path = None if force else zoo.find_local(entry)
    if path is not None and path == zoo.packaged_path(entry):
        return f'{entry.name}: packaged with aidn-plugin, nothing to download: {path}'
    if path is not None:
        return f'{entry.name}: already downloaded and verified: {path}'
    try:
        path = zoo.download(entry, force=force, progress=not quiet)
    except zoo.DownloadError as error:
        raise UsageError(str(error)) from None
    return f'{entry.name}: downloaded and verified: {path}'
