"""``aidn profile``: parameters, MACs and activations of AIDN (counted with mmengine.analysis).

Without ``-m`` / ``--weights`` it profiles a freshly built AIDN (``--scale``, ``--num-feat``,
``--num-block``); with them, the architecture of those weights (scale and sizes read from the file).
"""
from aidn_plugin.cli.errors import UsageError
from aidn_plugin.cli.model_options import add_model_arguments, load_model_from_args


def add_parser(sub):
    parser = sub.add_parser('profile', help='parameters, MACs and activations (mmengine.analysis)',
                            description='Count parameters, MACs and activations of AIDN at an output size.')
    add_model_arguments(parser, required=False)
    parser.add_argument('--scale', type=int, default=None,
                        help="upscale factor (2, 3, 4); default: the architecture's, or the scale of -m / --weights")
    parser.add_argument('--num-feat', type=int, default=None, help='feature channels (default: the architecture\'s)')
    parser.add_argument('--num-block', type=int, default=None, help='number of blocks (default: the architecture\'s)')
    parser.add_argument('--size', default='1280x720', help='output size WIDTHxHEIGHT; default 1280x720')
    parser.add_argument('--unfused', action='store_true', help='count the training form (default: fused/deploy)')
    parser.set_defaults(run=run)


def _build(args):
    if args.model is not None or args.weights is not None:
        for flag, value in (('--num-feat', args.num_feat), ('--num-block', args.num_block)):
            if value is not None:
                raise UsageError(f'{flag} cannot be combined with -m / --weights (the weights fix it)')
        return load_model_from_args(args, fuse=not args.unfused, scale=args.scale)
    from aidn_plugin.archs.aidn_arch import AIDN
    kwargs = {} if args.scale is None else {'upscale': args.scale}  # AIDN's own defaults for the rest
    if args.num_feat is not None:
        kwargs['num_feat'] = args.num_feat
    if args.num_block is not None:
        kwargs['num_block'] = args.num_block
    try:
        model = AIDN(**kwargs)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return model if args.unfused else model.fuse()


def run(args):
    from aidn_plugin.archs.complexity import count_complexity, parse_size
    try:
        size = parse_size(args.size)
    except ValueError as error:
        raise UsageError(f'--size: {error}') from None
    model = _build(args)
    scale = model.upscale
    try:
        stats = count_complexity(model, size, scale, in_ch=model.num_in_ch)
    except ValueError as error:
        raise UsageError(f'--size: {error}') from None
    form = 'unfused (training form)' if args.unfused else 'fused (deploy form)'
    source = f', {args.model or args.weights}' if (args.model or args.weights) else ''
    lr_width, lr_height = stats['lr_size']
    print(f'AIDN x{scale}{source}, {form}, output {size[0]}x{size[1]} (input {lr_width}x{lr_height})')
    print(f'  parameters : {stats["params"]:,}')
    print(f'  MACs       : {stats["macs"] / 1e9:.2f} G')
    print(f'  activations: {stats["activations"] / 1e6:.1f} M')
    return 0
