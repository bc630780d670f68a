"""The ``-m NAME`` / ``--weights PATH`` options shared by ``aidn upscale``, ``export`` and ``profile``."""
from aidn_plugin.cli.errors import UsageError


def add_model_arguments(parser, required=True):
    """Add the mutually exclusive ``-m/--model NAME`` and ``--weights PATH`` (one is needed when
    ``required``)."""
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument('-m', '--model', metavar='NAME', help='a model-zoo name (see "aidn zoo list")')
    group.add_argument('--weights', metavar='PATH',
                       help='a checkpoint file: BasicSR .pth (params_ema / params), bare state dict, .safetensors')


def load_model_from_args(args, fuse=True, device='cpu', scale=None, progress=False):
    """Load the model that ``args.model`` / ``args.weights`` name. Every loading problem becomes a
    one-line :class:`UsageError` (unknown name, failed download, bad or mismatching checkpoint)."""
    from aidn_plugin import zoo
    from aidn_plugin.zoo import checkpoints as weights
    try:
        if args.model is not None:
            entry = zoo.get_entry(args.model)
            if scale is not None and entry.scale != scale:
                raise UsageError(f'model {args.model} is x{entry.scale}, but --scale {scale} was given')
            return zoo.load_model(args.model, fuse=fuse, device=device, progress=progress)
        return weights.load_model(args.weights, scale=scale, fuse=fuse, device=device)
    except zoo.UnknownModelError as error:
        raise UsageError(f'{error}; --weights PATH loads a checkpoint of your own') from None
    except (zoo.DownloadError, weights.CheckpointError) as error:
        raise UsageError(str(error)) from None
