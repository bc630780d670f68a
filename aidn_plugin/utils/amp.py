"""Mixed-precision settings shared by AIDNModel and the option checks (imports no torch at module level).

Option keys (all optional):

* ``train.amp``: ``none`` (default; also ``~``/``false``), ``fp16`` or ``bf16``: the precision of the training
  forward pass under ``torch.autocast``. Weights, optimizer state, the loss and the EMA stay float32.
  ``fp16`` needs a CUDA device and uses a gradient scaler (``torch.amp.GradScaler``); ``bf16`` runs on CUDA
  and on the CPU and needs no scaler (bf16 has float32's exponent range).
* ``train.grad_clip``: largest L2 norm of all generator gradients (``clip_grad_norm_``), a number > 0, or
  ``~`` (default: no clipping). With fp16 the gradients are unscaled before they are clipped.
* ``val.amp``: the same choices for validation and ``basicsr test``; default ``none`` (float32), whatever
  ``train.amp`` says.
"""
import contextlib
import numbers

AMP_MODES = ('none', 'fp16', 'bf16')


def parse_amp(value, key):
    """The AMP mode (one of ``AMP_MODES``) that an option value names; ValueError naming ``key`` otherwise."""
    if value is None or value is False:
        return 'none'
    if isinstance(value, str) and value.lower() in AMP_MODES:
        return value.lower()
    raise ValueError(f'{key} is {value!r}; expected one of {", ".join(AMP_MODES)}')


def check_amp_device(mode, key, device_type):
    """ValueError naming ``key`` when ``mode`` cannot run on ``device_type`` (fp16 needs CUDA)."""
    if mode == 'fp16' and device_type != 'cuda':
        raise ValueError(f"{key} is 'fp16', which needs a CUDA device, but this run is on the {device_type} "
                         "(num_gpu: 0 or no CUDA GPU); use bf16 or none there")


def parse_grad_clip(value, key='train.grad_clip'):
    """The max gradient norm (float) or None; ValueError naming ``key`` for anything but a number > 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f'{key} is {value!r}; expected a number > 0 (the largest gradient L2 norm) or ~')
    return float(value)


def amp_dtype(mode):
    """torch dtype of a mode; None for ``none``."""
    import torch
    return {'none': None, 'fp16': torch.float16, 'bf16': torch.bfloat16}[mode]


def autocast(mode, device_type):
    """``torch.autocast(device_type, dtype)`` for ``mode``; a no-op context for ``none``."""
    if mode == 'none':
        return contextlib.nullcontext()
    import torch
    return torch.autocast(device_type=device_type, dtype=amp_dtype(mode))
