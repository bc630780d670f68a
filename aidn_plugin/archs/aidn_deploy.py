"""AIDN's CPU inference pass: the same function as the training form's features, rearranged for oneDNN.

``AIDN.forward`` hands its feature stage (shallow features, blocks, upsampler convolutions of the taps) to
:func:`tap_outputs` when :func:`applies` says so: gradients off (``torch.no_grad`` / ``inference_mode``), a
float32 CPU input, no autocast, not being traced or scripted (traced graphs hold only standard
operators), not inside :func:`disabled`, and a torch built with oneDNN's fused convolution operators; its
output stage then takes :func:`bicubic`. Everything else (training, CUDA, reduced precision, tracing) runs
the training form unchanged. :func:`export_form` is the other deploy-time spelling: of the graph the ONNX
exporter traces (:func:`bicubic`, :func:`softmax_channels`, global average pools).

Rewrites, each exact up to float rounding (tests/test_deploy.py compares with the training form):

* **Kernels built once per call.** The training form rebuilds every asymmetric unit's 3x3 kernel (branches
  folded, identity residual added) inside each unit and the composed shallow-feature kernel next to it; here
  they are all built from the current parameters at the start of each forward call (:func:`kernels`) and
  dropped at its end. Nothing is cached between calls, so no write to the weights (``load_state_dict``,
  ``fuse()``, an optimiser step, ``.to()``, BasicSR's EMA update through ``.data``, even one that keeps every
  norm, such as ``weight.data.neg_()``) can be served stale. The build costs 0.8 ms against 500 ms of a
  320x180 -> 1280x720 pass (measured, issue 31). Nothing is added to the module's parameters, buffers or
  ``state_dict``.
* **Convolution and activation in one oneDNN call** (``torch.ops.mkldnn._convolution_pointwise``, the fused
  operator torch.compile's CPU backend emits): no separate pass over each feature map for the activation.
* **No concatenation of the distilled parts.** ``fuse_conv(act(cat(k0, k1, k2, k3)))`` equals the sum of
  four 1x1 convolutions, one per part (the 1x1 weight split along its input channels); each part's
  convolution accumulates into the block output in place (oneDNN binary post-op), so the 64-channel
  concatenation, the strided copy it costs in channels-last memory, is never built.
* **Bicubic base as a convolution.** ``F.interpolate(x, scale_factor=s, mode='bicubic',
  align_corners=False)`` takes every output pixel from a 4x4 window whose position and weights depend only
  on its sub-pixel phase; over the edge-replicated image (PyTorch clamps the indices at the border) that is
  one grouped 5x5 convolution to s*s phase channels per colour, then a pixel shuffle: 2.5x faster here.
  Scales 2 and 4 only (``BICUBIC_SCALES``): PyTorch computes the source position with the float32 value of
  1/s, exact for powers of two; for 3 its positions drift from the exact ones by ~1e-8 per output pixel,
  so an exact kernel would differ from it by up to ~1e-5 on large images.

Measured and left out (see the issue 11 report): merging a block's 1x1 distillation into its 3x3 refinement
as extra output channels (one 32->48 convolution) was slower than the two convolutions here (48 output
channels run at a lower oneDNN efficiency, and the refined part would need a channel slice, i.e. a copy).
"""
import contextlib
import contextvars
import functools

import torch
import torch.nn.functional as F
from torch import nn


def _fused_ops():
    """oneDNN's fused convolution operators, or None where this torch build has none."""
    try:
        return (torch.ops.mkldnn._convolution_pointwise.default,
                torch.ops.mkldnn._convolution_pointwise_.binary)
    except (AttributeError, RuntimeError):
        return None


_OPS = _fused_ops() if torch.backends.mkldnn.is_available() else None


_DISABLED = contextvars.ContextVar('aidn_deploy_disabled', default=False)


@contextlib.contextmanager
def disabled():
    """Within this block AIDN runs the training form also under no_grad (for comparisons and debugging)."""
    token = _DISABLED.set(True)
    try:
        yield
    finally:
        _DISABLED.reset(token)


def applies(model, x):
    """Whether ``model(x)`` may take this inference pass (see the module docstring)."""
    return (_OPS is not None and not _DISABLED.get() and x.device.type == 'cpu' and x.dtype == torch.float32
            and not torch.is_grad_enabled() and not torch.is_autocast_enabled('cpu')
            and not torch.jit.is_tracing() and not torch.jit.is_scripting()
            and next(model.parameters()).dtype == torch.float32)


_EXPORT_FORM = contextvars.ContextVar('aidn_export_form', default=False)


@contextlib.contextmanager
def export_form():
    """Within this block, a traced AIDN takes the spelling ONNX Runtime runs fastest (bicubic base as a
    convolution, softmax written out, spatial means as global average pools); the ONNX exporter traces
    inside it. Other tracing (TorchScript, complexity counters) keeps the training form's operators."""
    token = _EXPORT_FORM.set(True)
    try:
        yield
    finally:
        _EXPORT_FORM.reset(token)


def exporting():
    """Whether the caller is being traced inside :func:`export_form`."""
    return _EXPORT_FORM.get() and torch.jit.is_tracing()


def _unary(act):
    """(attr, scalars, algorithm) of oneDNN's eltwise post-op equal to the activation module ``act``."""
    if isinstance(act, nn.LeakyReLU):
        return 'leaky_relu', [act.negative_slope], ''
    if isinstance(act, nn.ReLU):
        return 'relu', [], ''
    if isinstance(act, nn.GELU):
        return 'gelu', [], act.approximate
    if isinstance(act, nn.SiLU):
        return 'swish', [], ''
    raise TypeError(f'no oneDNN post-op for activation {type(act).__name__}')


_NONE = ('none', [], '')


def _conv(x, weight, bias, unary=_NONE):
    """Stride-1 'same' convolution of channels-last ``x`` with an optional fused activation."""
    pad = weight.shape[-1] // 2
    return _OPS[0](x, weight, bias, [pad, pad], [1, 1], [1, 1], 1, *unary)


def _conv_add_(out, x, weight):
    """``out += conv1x1(x, weight)`` in one oneDNN call (no bias)."""
    return _OPS[1](out, x, weight, None, [0, 0], [1, 1], [1, 1], 1, 'add', 1.0, None, [], None)


def _detach(pair):
    return tuple(None if t is None else t.detach().contiguous() for t in pair)


def _build_kernels(model):
    blocks = []
    for block in model.body:
        fuse = block.fuse_conv.weight.detach()
        part = fuse.shape[1] // 4
        blocks.append({
            'distill': [_detach((c.weight, c.bias)) for c in block.distill],
            'refine': [_detach(unit.kernel(identity=True)) for unit in block.refine],
            'last': _detach((block.last.weight, block.last.bias)),
            'fuse': [fuse[:, i * part:(i + 1) * part].contiguous() for i in range(4)],
            'fuse_bias': block.fuse_conv.bias.detach(),
            'unary': _unary(block.act),
        })
    upsampler = model.upsampler[0]
    return {'shallow': _detach(model._shallow_kernel()), 'blocks': blocks,
            'upsampler': _detach((upsampler.weight, upsampler.bias))}


def kernels(model):
    """The inference kernels of ``model``, built from its parameters as they are now (no cache: see the
    module docstring)."""
    with torch.no_grad():
        return _build_kernels(model)


def _block(block, k, x, edge=None):
    """One AIDB: three (distil, refine) rounds, the last 3x3, per-part fuse, edge gate, attention, residual."""
    unary = k['unary']
    feat = x
    out = None
    for (d_weight, d_bias), (r_weight, r_bias), f_weight in zip(k['distill'], k['refine'], k['fuse']):
        part = _conv(feat, d_weight, d_bias, unary)
        if out is None:
            out = _conv(part, f_weight, k['fuse_bias'])
        else:
            _conv_add_(out, part, f_weight)
        feat = _conv(feat, r_weight, r_bias, unary)
    _conv_add_(out, _conv(feat, *k['last'], unary), k['fuse'][3])
    if hasattr(block, 'edge_gate'):
        out.mul_(block.gate(edge))
    if isinstance(block.attention, nn.Identity):
        return out.add_(x)
    return block.attention(out, residual=x)


def tap_outputs(model, shallow, edge=None):
    """The upsampler-convolution outputs of the tap blocks, from the network input ``shallow`` (image minus
    mean, times img_range, with the edge map concatenated when the model has the edge input); ``edge``
    feeds the blocks' edge gates."""
    k = kernels(model)
    feat = _conv(shallow.contiguous(memory_format=torch.channels_last), *k['shallow'])
    taps = []
    for index, block in enumerate(model.body):
        feat = _block(block, k['blocks'][index], feat, edge)
        if index in model.taps:
            taps.append(_conv(feat, *k['upsampler']))
    return taps



BICUBIC_SCALES = (2, 4)


def _cubic(t, a=-0.75):
    """PyTorch's cubic convolution weights (A = -0.75) of the four taps around fractional offset ``t``."""
    def near(d):
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return far(t + 1), near(t), near(1 - t), far(2 - t)


@functools.lru_cache(maxsize=None)
def _bicubic_taps(scale):
    """[scale][5] 1-D weights over offsets -2..2 of each output phase (plain floats: a traced export then
    sees one constant kernel)."""
    import math
    taps = [[0.] * 5 for _ in range(scale)]
    for phase in range(scale):
        source = (phase + 0.5) / scale - 0.5  # in (-0.5, 0.5): the window starts at offset -2 or -1
        start = math.floor(source)
        for n, weight in enumerate(_cubic(source - start)):
            taps[phase][start + 1 + n] += weight
    return taps


def _bicubic_kernel(scale, channels):
    """[channels * scale^2, 1, 5, 5] grouped kernel: output channel c * s^2 + i * s + j holds phase (i, j)."""
    taps = _bicubic_taps(scale)
    kernel = [[[[taps[i][a] * taps[j][b] for b in range(5)] for a in range(5)]]
              for i in range(scale) for j in range(scale)]
    return torch.tensor(kernel * channels, dtype=torch.float32)


def bicubic(x, scale):
    """``F.interpolate(x, scale_factor=scale, mode='bicubic', align_corners=False)`` of a float32 NCHW
    batch, as a grouped convolution and a pixel shuffle (same values to float rounding)."""
    channels = x.shape[1]
    padded = F.pad(x.contiguous(), (2, 2, 2, 2), mode='replicate')
    return F.pixel_shuffle(F.conv2d(padded, _bicubic_kernel(scale, channels), groups=channels), scale)


def softmax_channels(logits):
    """``torch.softmax(logits, dim=1)`` as max, subtract, exp, sum and divide (how the export spells it)."""
    shifted = (logits - logits.amax(dim=1, keepdim=True)).exp()
    return shifted / shifted.sum(dim=1, keepdim=True)
