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

(What the tensors say is the architecture's own knowledge: ``aidn_plugin.archs.aidn_spec``.)

A stored or hinted value that contradicts the tensors is an error, as is a checkpoint of another
architecture or of another scale than the caller asked for. Every error is a :class:`CheckpointError`
whose one-line message names the file and says what was found.
"""
import json
import os
import re

import torch

from aidn_plugin.archs.aidn_spec import CheckpointError, check_arch_args, model_from_state_dict
from aidn_plugin.utils.atomic import atomic_torch_save, write_bytes

ARCH_KEY = 'arch'  # where publish_weights stores the architecture arguments in a .pth file
SAFETENSORS_ARCH_KEY = 'aidn_arch'  # the same, as JSON, in the metadata of a .safetensors file
PARAM_KEYS = ('params_ema', 'params')

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


def _check_stored_arch(stored, source):
    return check_arch_args(stored, source, ARCH_KEY)


def _strip_module_prefix(state_dict):
    return {(k[len('module.'):] if k.startswith('module.') else k): v for k, v in state_dict.items()}


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


__all__ = ['ARCH_KEY', 'CheckpointError', 'PARAM_KEYS', 'SAFETENSORS_ARCH_KEY', 'extract_state_dict', 'load_model',
           'read_checkpoint', 'save_checkpoint', 'save_named_checkpoint']
