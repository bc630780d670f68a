"""The networks the benchmarks compare, built from installed packages (no copied code).

``build(name, scale=4)``: a freshly initialised network of ``PEERS`` in eval mode, built by BasicSR's
``ARCH_REGISTRY`` (``from_options``) from its option-file form ``network_g(name, scale)`` (``NETWORK_G``:
what the quality cells train):

    ``aidn``, ``aidn_fused``  AIDN defaults (32 channels, 8 blocks, 3 taps), training form; and after ``fuse()``.
    ``aidn_light``  AIDN, 6 blocks, one tap (no multi-residual fusion), fused: ~0.6x AIDN's CPU time.
    ``safmn``   SAFMN dim 36, 8 blocks, ffn_scale 2 (spandrel): the published x4 lightweight model.
    ``span``    SPAN, 48 channels (spandrel): the paper's default, not the 28-channel challenge variant.
    ``ecbsr``   ECBSR M16C48, PReLU (BasicSR), sized to AIDN's parameter count (M16C64 has ~600K).
    ``srvgg``   SRVGGNetCompact, 48 features, 16 convolutions, PReLU (BasicSR), sized likewise.
    ``bicubic`` ``F.interpolate(mode='bicubic')``, no parameters: the floor every network must beat.

``inference_params(name, model)``: the parameters of the inference form (SPAN's and ECBSR's training
branches collapse into one 3x3 convolution each). ``in_layout(model, x, layout)``: a copy of a network and
its input in one of ``LAYOUTS`` (every network is timed in both and gets the better). ``register_peers()``
registers spandrel's SAFMN and SPAN in ``ARCH_REGISTRY`` under their class names (idempotent).
"""
import copy

import torch
import torch.nn.functional as F
from torch import nn

PEERS = ('aidn', 'aidn_fused', 'aidn_light', 'safmn', 'span', 'ecbsr', 'srvgg', 'bicubic')

# Human-readable configuration of each peer, for tables and JSON.
CONFIGS = {
    'aidn': 'AIDN C32 B8 K3 (training form)',
    'aidn_fused': 'AIDN C32 B8 K3, fused',
    'aidn_light': 'AIDN light C32 B6 K1, fused',
    'safmn': 'SAFMN dim 36, 8 blocks (spandrel)',
    'span': 'SPAN 48 channels (spandrel)',
    'ecbsr': 'ECBSR M16C48, PReLU (BasicSR)',
    'srvgg': 'SRVGGNetCompact 48 feat, 16 conv, PReLU (BasicSR)',
    'bicubic': 'bicubic interpolation',
}

# Each network's ``network_g`` without its scale: what the quality cells train and what build() builds.
NETWORK_G = {
    'aidn': {'type': 'AIDN', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 32, 'num_block': 8, 'num_out': 3,
             'attention': 'cca', 'edge_operator': 'sobel'},
    'aidn_light': {'type': 'AIDN', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 32, 'num_block': 6, 'num_out': 1,
                   'attention': 'cca', 'edge_operator': 'sobel'},
    'safmn': {'type': 'SAFMN', 'dim': 36, 'n_blocks': 8, 'ffn_scale': 2.0},
    'span': {'type': 'SPAN', 'num_in_ch': 3, 'num_out_ch': 3, 'feature_channels': 48},
    'ecbsr': {'type': 'ECBSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_block': 16, 'num_channel': 48, 'with_idt': False,
              'act_type': 'prelu'},
    'srvgg': {'type': 'SRVGGNetCompact', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 48, 'num_conv': 16,
              'act_type': 'prelu'},
}
SCALE_ARGUMENT = {'SAFMN': 'upscaling_factor', 'ECBSR': 'scale'}  # the others call it ``upscale``
LAYOUTS = ('nchw', 'channels_last')


class Bicubic(nn.Module):
    """Bicubic upscaling as a module (no parameters), so it runs through the same harness."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.scale, mode='bicubic', align_corners=False)


def network_g(name, scale):
    """The ``network_g`` option dict of ``name`` (a key of ``NETWORK_G``) at ``scale``."""
    options = dict(NETWORK_G[name])
    options[SCALE_ARGUMENT.get(options['type'], 'upscale')] = scale
    return options


def build(name, scale=4, training_form=False):
    """A new network ``name`` (one of ``PEERS``) for ``scale``, in eval mode, float32, on the CPU: built by
    BasicSR's ``ARCH_REGISTRY`` from :func:`network_g`, as an option file builds it. ``aidn_fused`` and
    ``aidn_light`` come fused, unless ``training_form`` (the network as it trains)."""
    if name not in PEERS:
        raise ValueError(f'unknown network {name!r}; expected one of {", ".join(PEERS)}')
    if name == 'bicubic':
        return Bicubic(scale).eval()
    model = from_options(network_g('aidn' if name == 'aidn_fused' else name, scale))
    return (model.fuse() if name in ('aidn_fused', 'aidn_light') and not training_form else model).eval()


def from_options(network):
    """The network an option file's ``network_g`` dict builds, through BasicSR's ``ARCH_REGISTRY``."""
    import aidn_plugin  # noqa: F401  (registers AIDN; its compat layer before BasicSR)
    from basicsr.utils.registry import ARCH_REGISTRY
    register_peers()
    options = dict(network)
    kind = options.pop('type')  # BasicSR registers its SRVGGNetCompact with a suffix (and says so when asked)
    return ARCH_REGISTRY.get(kind if kind in ARCH_REGISTRY else f'{kind}_basicsr')(**options)


def inference_params(name, model):
    """Parameters of the inference form of ``model`` (built by ``build(name)``); see the module docstring."""
    if name == 'span':
        # Conv3XC keeps its training branches (conv, sk) next to the eval_conv they collapse into.
        return sum(p.numel() for key, p in model.named_parameters() if '.conv.' not in key and '.sk.' not in key)
    if name == 'ecbsr':
        from basicsr.archs.ecbsr_arch import ECB
        total = 0
        for module in model.modules():
            if isinstance(module, ECB):
                total += module.out_channels * module.in_channels * 9 + module.out_channels
                if isinstance(getattr(module, 'act', None), nn.PReLU):
                    total += module.act.weight.numel()
        return total
    return sum(p.numel() for p in model.parameters())


def training_params(model):
    """All parameters of ``model`` (the training form for re-parameterisable networks)."""
    return sum(p.numel() for p in model.parameters())


def in_layout(model, x, layout):
    """A copy of ``model`` and ``x`` in ``layout`` (``nchw``: contiguous; ``channels_last``: weights and
    input in torch.channels_last). The original model is left as it is."""
    model = copy.deepcopy(model)
    if layout == 'channels_last':
        return model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    return model.to(memory_format=torch.contiguous_format), x.contiguous()


def register_peers():
    """Register spandrel's SAFMN and SPAN in BasicSR's ARCH_REGISTRY under their class names (idempotent)."""
    from basicsr.utils.registry import ARCH_REGISTRY
    from spandrel.architectures.SAFMN import SAFMN
    from spandrel.architectures.SPAN import SPAN
    for network in (SAFMN, SPAN):
        if network.__name__ not in ARCH_REGISTRY:
            ARCH_REGISTRY.register(network)
