"""The networks the benchmarks compare, built from installed packages (no copied code).

``build(name, scale=4)`` returns a freshly initialised ``nn.Module`` in eval mode for one of ``PEERS``:

    ``aidn``        AIDN defaults (32 channels, 8 blocks, 3 taps), training form (3x3 + 1x3 + 3x1 units).
    ``aidn_fused``  the same network after ``fuse()`` (what ``deploy=True`` builds; what inference runs).
    ``safmn``       SAFMN, dim 36, 8 blocks, ffn_scale 2 (spandrel.architectures.SAFMN): the published
                    x4 lightweight model.
    ``span``        SPAN, 48 feature channels (spandrel.architectures.SPAN): the paper's default SPAN
                    (NTIRE 2024 efficient SR winner family), not the 28-channel challenge variant.
    ``ecbsr``       ECBSR M16C48 (basicsr.archs.ecbsr_arch): 16 edge-oriented blocks of 48 channels, PReLU;
                    chosen to match AIDN's parameter count (the paper's largest variant, M16C64, has ~600K).
    ``srvgg``       SRVGGNetCompact, 48 features, 16 convolutions, PReLU (basicsr.archs.srvgg_arch); the
                    Real-ESRGAN compact family sized to ~300K parameters (its shipped models use 64).
    ``bicubic``     ``F.interpolate(mode='bicubic')``, no parameters: the floor every network must beat.

``inference_params(name, model)`` counts the parameters the inference form holds: re-parameterisable
networks (SPAN, ECBSR) train with extra branches that collapse into one 3x3 convolution each at inference;
their training-form parameter count is ``sum(p.numel())``.

``register_peers()`` registers spandrel's SAFMN and SPAN classes in BasicSR's ``ARCH_REGISTRY`` as ``SAFMN``
(keyword arguments ``dim``, ``n_blocks``, ``ffn_scale``, ``upscaling_factor``) and ``SPAN`` (``num_in_ch``,
``num_out_ch``, ``feature_channels``, ``upscale``), so an option file can train them. Safe to call more than
once.
"""
import torch
import torch.nn.functional as F
from torch import nn

PEERS = ('aidn', 'aidn_fused', 'safmn', 'span', 'ecbsr', 'srvgg', 'bicubic')

# Human-readable configuration of each peer, for tables and JSON.
CONFIGS = {
    'aidn': 'AIDN C32 B8 K3 (training form)',
    'aidn_fused': 'AIDN C32 B8 K3, fused',
    'safmn': 'SAFMN dim 36, 8 blocks (spandrel)',
    'span': 'SPAN 48 channels (spandrel)',
    'ecbsr': 'ECBSR M16C48, PReLU (BasicSR)',
    'srvgg': 'SRVGGNetCompact 48 feat, 16 conv, PReLU (BasicSR)',
    'bicubic': 'bicubic interpolation',
}

SAFMN_ARGS = dict(dim=36, n_blocks=8, ffn_scale=2.0)


class Bicubic(nn.Module):
    """Bicubic upscaling as a module (no parameters), so it runs through the same harness."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.scale, mode='bicubic', align_corners=False)


def build(name, scale=4):
    """A new network ``name`` (one of ``PEERS``) for ``scale``, in eval mode, float32, on the CPU."""
    if name in ('aidn', 'aidn_fused'):
        from aidn_plugin.archs.aidn_arch import AIDN
        model = AIDN(upscale=scale)
        if name == 'aidn_fused':
            model.fuse()
    elif name == 'safmn':
        from spandrel.architectures.SAFMN import SAFMN
        model = SAFMN(upscaling_factor=scale, **SAFMN_ARGS)
    elif name == 'span':
        from spandrel.architectures.SPAN import SPAN
        model = SPAN(num_in_ch=3, num_out_ch=3, feature_channels=48, upscale=scale)
    elif name == 'ecbsr':
        from basicsr.archs.ecbsr_arch import ECBSR
        model = ECBSR(num_in_ch=3, num_out_ch=3, num_block=16, num_channel=48, with_idt=False, act_type='prelu',
                      scale=scale)
    elif name == 'srvgg':
        from basicsr.archs.srvgg_arch import SRVGGNetCompact
        model = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=48, num_conv=16, upscale=scale, act_type='prelu')
    elif name == 'bicubic':
        model = Bicubic(scale)
    else:
        raise ValueError(f'unknown network {name!r}; expected one of {", ".join(PEERS)}')
    return model.eval()


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


def register_peers():
    """Register spandrel's SAFMN and SPAN in BasicSR's ARCH_REGISTRY under their class names (idempotent)."""
    from basicsr.utils.registry import ARCH_REGISTRY
    from spandrel.architectures.SAFMN import SAFMN
    from spandrel.architectures.SPAN import SPAN
    for network in (SAFMN, SPAN):
        if network.__name__ not in ARCH_REGISTRY:
            ARCH_REGISTRY.register(network)


@torch.no_grad()
def check_output_shape(model, scale, size=(8, 12)):
    """Run ``model`` on a small input and return the output shape (used by the tests and the harness)."""
    x = torch.rand(1, 3, *size)
    return tuple(model(x).shape)
