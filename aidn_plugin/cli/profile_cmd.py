"""``aidn profile``: parameters, MACs and activations of AIDN (counted with mmengine.analysis)."""
from aidn_plugin.cli.errors import UsageError


def add_parser(sub):
    parser = sub.add_parser('profile', help='parameters, MACs and activations (mmengine.analysis)',
                            description='Count parameters, MACs and activations of AIDN at an output size.')
    parser.add_argument('--scale', type=int, default=4, help='upscale factor (2, 3, 4); default 4')
    parser.add_argument('--num-feat', type=int, default=None, help='feature channels (default: the architecture\'s)')
    parser.add_argument('--num-block', type=int, default=None, help='number of blocks (default: the architecture\'s)')
    parser.add_argument('--size', default='1280x720', help='output size WIDTHxHEIGHT; default 1280x720')
    parser.add_argument('--unfused', action='store_true', help='count the training form (default: fused/deploy)')
    parser.set_defaults(run=run)


def run(args):
    from aidn_plugin.archs.aidn_arch import AIDN
    from aidn_plugin.complexity import count_complexity, parse_size
    kwargs = {'upscale': args.scale}
    if args.num_feat is not None:
        kwargs['num_feat'] = args.num_feat
    if args.num_block is not None:
        kwargs['num_block'] = args.num_block
    try:
        size = parse_size(args.size)
        model = AIDN(**kwargs)
        if not args.unfused:
            model.fuse()
        stats = count_complexity(model, size, args.scale)
    except ValueError as error:
        raise UsageError(str(error)) from None
    form = 'unfused (training form)' if args.unfused else 'fused (deploy form)'
    print(f'AIDN x{args.scale}, {form}, output {size[0]}x{size[1]} (input {stats["lr_size"][0]}x{stats["lr_size"][1]})')
    print(f'  parameters : {stats["params"]:,}')
    print(f'  MACs       : {stats["macs"] / 1e9:.2f} G')
    print(f'  activations: {stats["activations"] / 1e6:.1f} M')
    return 0
