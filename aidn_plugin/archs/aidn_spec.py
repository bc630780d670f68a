"""What an AIDN checkpoint's tensors say about the architecture, beside the architecture itself.

* :data:`ARCH_DEFAULTS` - AIDN's keyword arguments and their defaults, read from the constructor (the one
  place they are written);
* :data:`REQUIRED_KEYS` - the tensors every AIDN state dict has, whatever its configuration (how one is
  recognised, by the zoo's loader and by spandrel's detection alike);
* :func:`infer_arch` - the arguments the tensor shapes fix; :func:`resolve_arch` - those, completed by
  arguments stored in a file or given by a caller, then by the defaults; :func:`model_from_state_dict` -
  the network built and loaded strictly.

Every problem is a :class:`CheckpointError` whose one-line message names the source and what was found.
"""
import inspect
import math

from aidn_plugin.archs.aidn_arch import AIDN, SUPPORTED_SCALES

ARCH_DEFAULTS = {
    name: param.default
    for name, param in inspect.signature(AIDN.__init__).parameters.items() if name != 'self'
}

# Keys every AIDN state dict has, whatever its configuration (used to recognise one).
REQUIRED_KEYS = ('conv_first_img.weight', 'conv_first_fuse.weight',
                 'body.0.distill.0.weight', 'body.0.refine.0.conv3x3.weight', 'body.0.fuse_conv.weight',
                 'upsampler.0.weight')

class CheckpointError(ValueError):
    """A file that cannot be used as AIDN weights; the message names the file and what was found."""


def check_arch_args(args, source, key='arch'):
    """``args`` (AIDN keyword arguments stored in a file or given by a caller) as a dict; raises
    :class:`CheckpointError` naming ``source`` and ``key`` for anything that is not an AIDN argument."""
    if not isinstance(args, dict):
        raise CheckpointError(f'{source}: {key!r} must be a dict of AIDN arguments, found {type(args).__name__}')
    unknown = sorted(set(args) - set(ARCH_DEFAULTS))
    if unknown:
        raise CheckpointError(f'{source}: {key!r} has unknown AIDN argument(s) {", ".join(unknown)}')
    return dict(args)


def infer_arch(state_dict, source='checkpoint'):
    """The AIDN arguments that the tensors of ``state_dict`` fix.

    Returns:
        dict: ``num_in_ch``, ``num_out_ch``, ``num_feat``, ``num_block``, ``upscale``, ``num_out``,
        ``deploy``, ``edge_input``, ``edge_guide`` and ``attention`` (``'none'`` when the blocks have none, else ``None``:
        present, but ``cca`` and ``ca`` have the same tensors). ``asymmetric`` is not inferred: plain 3x3
        units have the tensors of fused asymmetric ones, and ``deploy`` builds either.

    Raises:
        CheckpointError: not an AIDN state dict, or tensors of inconsistent shapes.
    """
    missing = [k for k in REQUIRED_KEYS if k not in state_dict]
    if missing:
        sample = ', '.join(list(state_dict)[:3])
        raise CheckpointError(f'{source}: not an AIDN checkpoint: no {missing[0]!r} among its {len(state_dict)} '
                              f'tensors (first keys: {sample})')
    first = state_dict['conv_first_img.weight']
    num_feat, num_in_ch = int(first.shape[0]), int(first.shape[1])
    num_block = 0
    while f'body.{num_block}.fuse_conv.weight' in state_dict:
        num_block += 1
    up_channels = int(state_dict['upsampler.0.weight'].shape[0])
    scale = math.isqrt(up_channels // num_in_ch) if up_channels % num_in_ch == 0 else 0
    if scale * scale * num_in_ch != up_channels or scale not in SUPPORTED_SCALES:
        raise CheckpointError(f'{source}: upsampler.0.weight has {up_channels} output channels, which is not '
                              f'{num_in_ch} x scale^2 for a scale in {SUPPORTED_SCALES}')
    fusion = state_dict.get('fusion.weight')
    return {
        'num_in_ch': num_in_ch,
        'num_out_ch': num_in_ch,
        'num_feat': num_feat,
        'num_block': num_block,
        'upscale': scale,
        'num_out': int(fusion.shape[0]) if fusion is not None else 1,
        'attention': None if 'body.0.attention.squeeze.weight' in state_dict else 'none',
        'deploy': 'body.0.refine.0.conv1x3.weight' not in state_dict,
        'edge_input': 'conv_first_edge.weight' in state_dict,
        'edge_guide': 'gate' if 'body.0.edge_gate.weight' in state_dict else 'input',
    }


def resolve_arch(state_dict, stored=None, hints=None, source='checkpoint'):
    """Full AIDN keyword arguments for ``state_dict``: tensors, then ``stored`` (from the file), then
    ``hints`` (from the caller), then AIDN's defaults. A stored or hinted value that contradicts the
    tensors raises :class:`CheckpointError`."""
    inferred = infer_arch(state_dict, source)
    args = dict(ARCH_DEFAULTS)
    for origin, values in (('stored in the file', stored or {}), ('expected', hints or {})):
        for key, value in values.items():
            if key not in ARCH_DEFAULTS:
                raise CheckpointError(f'{source}: unknown AIDN argument {key!r} ({origin})')
            if key == 'deploy':
                continue  # fused or not is a property of the tensors, never a contradiction
            found = inferred.get(key)
            if key == 'attention' and found is None:
                found = value if value != 'none' else 'cca or ca'
            if key in inferred and found != value:
                raise CheckpointError(f'{source}: {key}={value!r} {origin}, but the tensors are of an AIDN with '
                                      f'{key}={found!r}')
            args[key] = list(value) if key == 'rgb_mean' else value
    for key, value in inferred.items():
        if value is not None:
            args[key] = value
    return args


def model_from_state_dict(state_dict, stored=None, hints=None, source='checkpoint'):
    """Build AIDN with the resolved arguments and load ``state_dict`` strictly. Returns the model in
    eval mode, in the form the tensors have (fused when they are)."""
    args = resolve_arch(state_dict, stored, hints, source)
    try:
        model = AIDN(**args)
    except ValueError as error:
        raise CheckpointError(f'{source}: {error}') from None
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        detail = ' '.join(str(error).split())
        raise CheckpointError(f'{source}: tensors do not fit AIDN({_describe(args)}): {detail[:300]}') from None
    return model.eval()


def _describe(args):
    keys = ('num_in_ch', 'num_feat', 'num_block', 'upscale', 'num_out', 'attention')
    return ', '.join(f'{k}={args[k]!r}' for k in keys)


