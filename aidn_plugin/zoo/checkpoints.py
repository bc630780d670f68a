"""Safe loading of AIDN checkpoints, with the architecture read from the file and its tensors.

A checkpoint is read with ``torch.load(..., weights_only=True)`` (tensors and plain containers only, so a
file can never run code) or, for ``.safetensors``, with ``safetensors``. Inside it the weights are taken
from, in this order:

1. ``params_ema`` (BasicSR's EMA weights),
2. ``params`` (BasicSR's plain weights),
3. the file itself, when it is a bare state dict (every value a tensor).

A ``module.`` prefix (left by DataParallel / DDP) is stripped from every key.

Architecture arguments come from three places, later ones filling in what earlier ones do not fix:

* the tensors: ``num_in_ch``, ``num_out_ch``, ``num_feat``, ``num_block``, ``upscale``, ``num_out``,
  whether blocks have attention, and ``deploy`` (fused files have no ``conv1x3`` keys);
* an ``arch`` dict stored next to the weights (``scripts/publish_weights.py`` writes one; in a
  ``.safetensors`` file it is the JSON metadata entry ``aidn_arch``) and the ``arch=`` hints of the caller
  (the zoo passes its entry's): they carry what tensors cannot show (``act_type``, ``edge_operator``,
  ``cca`` vs ``ca`` attention, ``img_range``, ``rgb_mean``);
* the defaults of :class:`~aidn_plugin.archs.aidn_arch.AIDN` for anything still open.

A stored or hinted value that contradicts the tensors is an error, as is a checkpoint of another
architecture or of another scale than the caller asked for. Every error is a :class:`CheckpointError`
whose one-line message names the file and says what was found.
"""
import inspect
import json
import math
import os
import re

import torch

from aidn_plugin.archs.aidn_arch import AIDN, SUPPORTED_SCALES
from aidn_plugin.utils.atomic import atomic_torch_save, write_bytes

ARCH_KEY = 'arch'  # where publish_weights stores the architecture arguments in a .pth file
SAFETENSORS_ARCH_KEY = 'aidn_arch'  # the same, as JSON, in the metadata of a .safetensors file
PARAM_KEYS = ('params_ema', 'params')

# Keys every AIDN state dict has, whatever its configuration (used to recognise one).
REQUIRED_KEYS = ('conv_first_img.weight', 'conv_first_edge.weight', 'conv_first_fuse.weight',
                 'body.0.distill.0.weight', 'body.0.refine.0.conv3x3.weight', 'body.0.fuse_conv.weight',
                 'upsampler.0.weight')

ARCH_DEFAULTS = {
    name: param.default
    for name, param in inspect.signature(AIDN.__init__).parameters.items() if name != 'self'
}


class CheckpointError(ValueError):
    """A file that cannot be used as AIDN weights; the message names the file and what was found."""


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def read_checkpoint(path):
    """Read a checkpoint file safely.

    Args:
        path (str | os.PathLike): a ``.pth`` / ``.pt`` / ``.ckpt`` file (torch pickle, read with
            ``weights_only=True``) or a ``.safetensors`` file.

    Returns:
        tuple: (state_dict, stored_arch) where stored_arch is the architecture dict saved in the file,
        or ``{}`` when there is none.

    Raises:
        CheckpointError: missing file, not a checkpoint, objects other than tensors, no weights inside.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f'{path}: no such file')
    if os.path.isdir(path):
        raise CheckpointError(f'{path}: is a folder, expected a checkpoint file (.pth or .safetensors)')
    if path.lower().endswith('.safetensors'):
        return _read_safetensors(path)
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # torch raises many types for a bad file; all mean "not usable"
        raise CheckpointError(f'{path}: {_describe_load_error(error)}') from None
    return extract_state_dict(obj, path)


def _describe_load_error(error):
    """One line for a failed ``torch.load``: refused objects (weights_only) or not a checkpoint at all."""
    text = str(error)
    refused = re.search(r'GLOBAL (\S+)', text)
    if refused:
        return (f'holds a Python object ({refused.group(1)}) besides tensors and plain containers; refused '
                '(checkpoints are loaded with weights_only=True, so a file can never run code)')
    detail = next((line.strip() for line in text.splitlines() if line.strip().startswith('Unsupported')), None)
    return f'not a PyTorch checkpoint ({detail or _first_line(error)})'


def _read_safetensors(path):
    try:
        from safetensors import safe_open
    except ImportError:
        raise CheckpointError(f'{path}: reading .safetensors needs the safetensors package '
                              '(pip install safetensors)') from None
    try:
        with safe_open(path, framework='pt', device='cpu') as handle:
            metadata = handle.metadata() or {}
            state_dict = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # safetensors raises its own error types for a damaged header
        raise CheckpointError(f'{path}: not a safetensors file ({_first_line(error)})') from None
    stored = {}
    if SAFETENSORS_ARCH_KEY in metadata:
        try:
            stored = json.loads(metadata[SAFETENSORS_ARCH_KEY])
        except json.JSONDecodeError:
            raise CheckpointError(f'{path}: metadata {SAFETENSORS_ARCH_KEY!r} is not valid JSON') from None
    return _strip_module_prefix(state_dict), _check_stored_arch(stored, path)


def extract_state_dict(obj, source='checkpoint'):
    """Find the weights in a loaded checkpoint object: ``params_ema``, then ``params``, then a bare
    state dict. Returns (state_dict, stored_arch); ``source`` names the file in error messages."""
    if not isinstance(obj, dict):
        raise CheckpointError(f'{source}: expected a dict of weights, found {type(obj).__name__}')
    stored = _check_stored_arch(obj.get(ARCH_KEY, {}), source)
    for key in PARAM_KEYS:
        if key in obj:
            if not isinstance(obj[key], dict) or not obj[key]:
                raise CheckpointError(f'{source}: {key!r} is not a non-empty dict of tensors')
            state_dict = obj[key]
            break
    else:
        state_dict = {k: v for k, v in obj.items() if k != ARCH_KEY}
        if not state_dict or not all(torch.is_tensor(v) for v in state_dict.values()):
            keys = ', '.join(repr(k) for k in list(obj)[:6])
            raise CheckpointError(f'{source}: no weights found: expected a {" or ".join(map(repr, PARAM_KEYS))} '
                                  f'key or a bare state dict, found keys {keys}')
    bad = [k for k, v in state_dict.items() if not torch.is_tensor(v)]
    if bad:
        raise CheckpointError(f'{source}: weight {bad[0]!r} is not a tensor')
    return _strip_module_prefix(state_dict), stored


def _strip_module_prefix(state_dict):
    return {(k[len('module.'):] if k.startswith('module.') else k): v for k, v in state_dict.items()}


def _check_stored_arch(stored, source):
    if not isinstance(stored, dict):
        raise CheckpointError(f'{source}: {ARCH_KEY!r} must be a dict of AIDN arguments, found {type(stored).__name__}')
    unknown = sorted(set(stored) - set(ARCH_DEFAULTS))
    if unknown:
        raise CheckpointError(f'{source}: {ARCH_KEY!r} has unknown AIDN argument(s) {", ".join(unknown)}')
    return dict(stored)


def infer_arch(state_dict, source='checkpoint'):
    """The AIDN arguments that the tensors of ``state_dict`` fix.

    Returns:
        dict: ``num_in_ch``, ``num_out_ch``, ``num_feat``, ``num_block``, ``upscale``, ``num_out``,
        ``deploy`` and ``attention`` (``'none'`` when the blocks have none, else ``None``: present, but
        ``cca`` and ``ca`` have the same tensors).

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


def load_model(path, scale=None, arch=None, fuse=True, device='cpu'):
    """Load AIDN weights from a file.

    Args:
        path (str): checkpoint file (``.pth`` / ``.pt`` / ``.ckpt`` / ``.safetensors``).
        scale (int | None): the upscale factor the caller needs; a checkpoint of another scale raises
            :class:`CheckpointError`. None accepts any.
        arch (dict | None): expected AIDN arguments (e.g. a zoo entry's); they fill in what the tensors
            cannot show, and any that contradicts the tensors raises.
        fuse (bool): fold the asymmetric units (deploy form, faster, same output). Default True.
        device (str | torch.device): where to put the model. Default ``cpu``.

    Returns:
        AIDN: in eval mode.
    """
    state_dict, stored = read_checkpoint(path)
    source = os.fspath(path)
    model = model_from_state_dict(state_dict, stored, arch, source)
    if scale is not None and model.upscale != scale:
        raise CheckpointError(f'{source}: checkpoint is for x{model.upscale}, but x{scale} was asked for')
    if fuse:
        model.fuse()
    return model.to(device)


def save_checkpoint(path, state_dict, arch):
    """Write ``{'params': state_dict, 'arch': arch}`` to ``path`` atomically (a temp file in the same
    folder, renamed into place once complete), a file BasicSR's ``load_network`` also reads."""
    atomic_torch_save({'params': state_dict, ARCH_KEY: dict(arch)}, os.fspath(path))


def save_named_checkpoint(folder, name, state_dict, arch):
    """Save a checkpoint as ``folder/NAME-<sha256[:8]>.pth`` (the zoo's naming), atomically.

    Args:
        folder (str): output folder (created if needed).
        name (str): the zoo name, e.g. ``aidn_x4``.
        state_dict (dict): the network's tensors.
        arch (dict): the AIDN keyword arguments stored beside them.

    Returns:
        (str, str): the file's path and its full sha256.
    """
    import hashlib
    import io
    buffer = io.BytesIO()
    torch.save({'params': state_dict, ARCH_KEY: dict(arch)}, buffer)
    data = buffer.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    path = os.path.join(folder, f'{name}-{sha256[:8]}.pth')
    write_bytes(path, data)
    return path, sha256
