"""AIDN: Asymmetric Information Distillation Network (our reconstruction, see docs/architecture.md).

Data flow (docs/architecture.md):
    LR image x and its edge image e
      -> dual-input shallow features (conv3x3 on x, conv3x3 on e, 1x1 fuse to C channels)
      -> N asymmetric information distillation blocks (AIDB)
      -> the outputs of K evenly spaced blocks each pass one shared upsampler -> K residual images
      -> attention fusion (per-pixel softmax weights over the K residuals)
      -> + bicubic upscale of x.

Attribute names are checkpoint keys: keep them stable.
"""
import functools

import torch
import torch.nn.functional as F
from torch import nn

from aidn_plugin import edges
from aidn_plugin.archs import aidn_deploy

SUPPORTED_SCALES = (2, 3, 4)
ATTENTION_TYPES = ('cca', 'ca', 'none')
EDGE_GUIDES = ('input', 'gate')
ACTIVATIONS = ('lrelu', 'relu', 'gelu', 'silu')


def _activation(act_type):
    if act_type == 'lrelu':
        return nn.LeakyReLU(0.05, inplace=True)
    if act_type == 'relu':
        return nn.ReLU(inplace=True)
    if act_type == 'gelu':
        return nn.GELU()
    return nn.SiLU(inplace=True)


class AsymmetricConvUnit(nn.Module):
    """Parallel 3x3, 1x3 and 3x1 convolutions, summed (ACNet without batch norm).

    ``fuse()`` folds the 1x3 and 3x1 kernels into the centre row and column of the 3x3 kernel; zero padding
    makes that exact. Only the 3x3 branch has a bias (the others' would be redundant).

    The forward pass runs that sum as one 3x3 convolution in both forms (the folded kernel is rebuilt from
    the branches on every call, so training still updates the three branches): the same values to float
    rounding, one convolution instead of three plus two additions, forward and backward.

    Args:
        channels (int): input and output channels.
        deploy (bool): build the fused form directly (a single 3x3 convolution).
    """

    def __init__(self, channels, deploy=False):
        super().__init__()
        self.conv3x3 = nn.Conv2d(channels, channels, 3, padding=1)
        if not deploy:
            self.conv1x3 = nn.Conv2d(channels, channels, (1, 3), padding=(0, 1), bias=False)
            self.conv3x1 = nn.Conv2d(channels, channels, (3, 1), padding=(1, 0), bias=False)

    @property
    def fused(self):
        return not hasattr(self, 'conv1x3')

    def kernel(self, identity=False):
        """(weight, bias) of the one 3x3 convolution equal to this unit; ``identity=True`` adds the input
        too (a residual folded into the centre tap)."""
        weight = self.conv3x3.weight
        if not self.fused:
            weight = weight + F.pad(self.conv1x3.weight, (0, 0, 1, 1)) + F.pad(self.conv3x1.weight, (1, 1, 0, 0))
        if identity:
            channels = weight.shape[0]
            eye = torch.eye(channels, dtype=weight.dtype, device=weight.device).view(channels, channels, 1, 1)
            weight = weight + F.pad(eye, (1, 1, 1, 1))
        return weight, self.conv3x3.bias

    def forward(self, x, residual=False):
        """The unit's output; ``residual=True`` returns ``unit(x) + x`` in the same single convolution."""
        weight, bias = self.kernel(identity=residual)
        return F.conv2d(x, weight, bias, padding=1)

    @torch.no_grad()
    def fuse(self):
        if self.fused:
            return
        weight = self.conv3x3.weight
        weight[:, :, 1:2, :] += self.conv1x3.weight
        weight[:, :, :, 1:2] += self.conv3x1.weight
        del self.conv1x3, self.conv3x1


def _spatial_mean(x):
    """Mean over H and W, keeping the dimensions. Traced for ONNX export it is a global average pool: ONNX
    Runtime runs ReduceMean over the spatial axes of an NCHW tensor ~6x slower than GlobalAveragePool."""
    if aidn_deploy.exporting():
        return F.adaptive_avg_pool2d(x, 1)
    return x.mean(dim=(2, 3), keepdim=True)


class ContrastChannelAttention(nn.Module):
    """Channel attention driven by per-channel contrast (std + mean), as in IMDN; ``pool='mean'`` gives
    plain squeeze-and-excitation channel attention.

    Args:
        channels (int): feature channels.
        reduction (int): bottleneck reduction factor.
        pool (str): ``contrast`` or ``mean``.
    """

    def __init__(self, channels, reduction=16, pool='contrast'):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.pool = pool
        self.squeeze = nn.Conv2d(channels, hidden, 1)
        self.excite = nn.Conv2d(hidden, channels, 1)

    def forward(self, x, residual=None):
        """``x`` scaled per channel; with ``residual``, ``residual + x * scale`` in one pass."""
        # statistics in float32 (x.float() is x itself there): in fp16 the squares of large features
        # overflow, and a bf16 mean over a whole image keeps only ~3 significant digits
        xf = x.float()
        mean = _spatial_mean(xf)
        if self.pool == 'contrast':
            # two passes (not torch.var_mean: its CPU kernel is ~50x slower than mean on these shapes)
            stat = mean + _spatial_mean((xf - mean).square_()).sqrt()
        else:
            stat = mean
        scale = torch.sigmoid(self.excite(F.relu(self.squeeze(stat.to(x.dtype)))))
        if residual is None:
            return x * scale
        return torch.addcmul(residual, x, scale)


class AIDB(nn.Module):
    """Asymmetric information distillation block (RFDN/LKDN skeleton).

    Three rounds of: a 1x1 convolution distils C/2 channels that are kept; an asymmetric convolution unit
    refines the features, with a residual and an activation. A last 3x3 convolution, the concatenation of
    the four distilled parts, a 1x1 fuse, light attention, and a residual to the block input.

    Args:
        channels (int): feature channels C.
        attention (str): ``cca`` (contrast-aware channel attention), ``ca`` or ``none``.
        act_type (str): activation, one of ``ACTIVATIONS``.
        deploy (bool): build the asymmetric units in their fused form (one 3x3 convolution each).
        asymmetric (bool): ``False`` trains plain 3x3 convolutions in their place (the ablation: the same
            deploy cost, no 1x3/3x1 branches).
        edge_gate (bool): a spatial gate from the edge map scales the fused distilled features before the
            attention: ``out * 2 * sigmoid(conv3x3(edge))``, one gate value per channel and pixel. The gate
            convolution starts at zero, so a new gated block computes what an ungated one does.
    """

    def __init__(self, channels, attention='cca', act_type='lrelu', deploy=False, asymmetric=True, edge_gate=False):
        super().__init__()
        distilled = channels // 2
        self.distill = nn.ModuleList(nn.Conv2d(channels, distilled, 1) for _ in range(3))
        # a plain 3x3 unit is exactly an asymmetric unit's fused form
        self.refine = nn.ModuleList(AsymmetricConvUnit(channels, deploy or not asymmetric) for _ in range(3))
        self.last = nn.Conv2d(channels, distilled, 3, padding=1)
        self.fuse_conv = nn.Conv2d(distilled * 4, channels, 1)
        if attention == 'none':
            self.attention = nn.Identity()
        else:
            self.attention = ContrastChannelAttention(channels, pool='contrast' if attention == 'cca' else 'mean')
        self.act = _activation(act_type)
        if edge_gate:
            self.edge_gate = nn.Conv2d(1, channels, 3, padding=1)
            nn.init.zeros_(self.edge_gate.weight)
            nn.init.zeros_(self.edge_gate.bias)

    def gate(self, edge):
        """The block's edge gate, ``2 * sigmoid(conv3x3(edge))`` (1 where the gate convolution is zero)."""
        return torch.sigmoid(self.edge_gate(edge)) * 2  # not in place: sigmoid's backward reads its output

    def forward(self, x, edge=None):
        """The block's output; ``edge`` ([N, 1, H, W]) is needed by a block with an edge gate."""
        kept = []
        feat = x
        for distill, refine in zip(self.distill, self.refine):
            kept.append(distill(feat))
            feat = self.act(refine(feat, residual=True))
        kept.append(self.last(feat))
        # the activation is element-wise: one call on the concatenation instead of four on the parts
        out = self.fuse_conv(self.act(torch.cat(kept, dim=1)))
        if hasattr(self, 'edge_gate'):
            out = out * self.gate(edge)
        if isinstance(self.attention, ContrastChannelAttention):
            return self.attention(out, residual=x)
        return out + x


def _tap_indices(num_block, num_out):
    """Indices (0-based) of ``num_out`` evenly spaced blocks, always ending with the last block."""
    return [round((k + 1) * num_block / num_out) - 1 for k in range(num_out)]


class AIDN(nn.Module):
    """Asymmetric Information Distillation Network for lightweight single-image super-resolution.

    ``forward(x, edge=None)``: ``x`` is an [N, num_in_ch, H, W] LR batch in [0, 1]; ``edge`` its
    [N, 1, H, W] edge map (``aidn_plugin.edges.edge_map(x, edge_operator)``), computed inside when omitted,
    so plain RGB inference, BasicSR's stock ``SRModel`` and ONNX export all work. Returns
    [N, num_out_ch, H * upscale, W * upscale], a contiguous (NCHW) tensor. Inside, the features run
    channels-last, where oneDNN's convolutions need no layout reorders; the caller needs to do nothing.
    CPU inference (no_grad, float32) takes ``archs.aidn_deploy``'s rearranged pass: the same output to
    float rounding, with kernels folded once per call and fused oneDNN calls; training always runs the form below.

    Args (keyword arguments, BasicSR naming):
        num_in_ch (int): input channels, 1 or 3. Default 3.
        num_out_ch (int): output channels; must equal num_in_ch (the output adds a bicubic upscale of the
            input). Default 3.
        num_feat (int): feature channels C (even). Default 32.
        num_block (int): number of AIDB blocks N. Default 8.
        upscale (int): 2, 3 or 4. Default 4.
        num_out (int): K, how many evenly spaced blocks feed the multi-residual upsampler (1..N). Default 3.
        attention (str): block attention, ``cca``, ``ca`` or ``none``. Default ``cca``.
        act_type (str): ``lrelu`` (slope 0.05), ``relu``, ``gelu`` or ``silu``. Default ``lrelu``.
        edge_operator (str): ``sobel``, ``scharr`` or ``laplacian``, used when forward gets no edge.
            Default ``sobel``.
        edge_input (bool): ``False`` builds AIDN without the edge branch at all (no ``conv_first_edge``;
            an ``edge`` given to forward is ignored and none is computed): the ablation of the edge input.
            Default True.
        asymmetric (bool): ``False`` uses plain 3x3 convolutions in place of the asymmetric units (the
            ablation: same deploy cost, no 1x3/3x1 training branches). Default True.
        edge_guide (str): where the edge map guides the network: ``input`` (default: only the dual-input
            shallow features) or ``gate`` (also a spatial gate in every block, from the edge map, scaling the
            block's fused distilled features; 0.7% more MACs at x4). ``gate`` needs ``edge_input``.
        img_range (float): pixel value range the network sees. Default 1.
        rgb_mean (tuple): mean subtracted from the input before the first convolution (DIV2K's mean).
        deploy (bool): build every asymmetric unit already fused (the form ``fuse()`` produces; load fused
            checkpoints into it). Default False.
    """

    def __init__(self,
                 num_in_ch=3,
                 num_out_ch=3,
                 num_feat=32,
                 num_block=8,
                 upscale=4,
                 num_out=3,
                 attention='cca',
                 act_type='lrelu',
                 edge_operator='sobel',
                 edge_input=True,
                 asymmetric=True,
                 edge_guide='input',
                 img_range=1.,
                 rgb_mean=(0.4488, 0.4371, 0.4040),
                 deploy=False):
        super().__init__()
        _check_options(num_in_ch, num_out_ch, num_feat, num_block, upscale, num_out, attention, act_type,
                       edge_operator, rgb_mean, edge_input, edge_guide)
        self.num_in_ch = num_in_ch
        self.upscale = upscale
        self.edge_operator = edge_operator
        self.edge_input = edge_input
        self.edge_guide = edge_guide
        self.img_range = img_range
        mean = rgb_mean if num_in_ch == 3 else (sum(rgb_mean) / len(rgb_mean), )
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, num_in_ch, 1, 1),
                             persistent=False)
        self.taps = _tap_indices(num_block, num_out)

        self.conv_first_img = nn.Conv2d(num_in_ch, num_feat, 3, padding=1)
        if edge_input:
            self.conv_first_edge = nn.Conv2d(1, num_feat, 3, padding=1)
        self.conv_first_fuse = nn.Conv2d(num_feat * (2 if edge_input else 1), num_feat, 1)
        self.body = nn.ModuleList(AIDB(num_feat, attention, act_type, deploy, asymmetric, edge_guide == 'gate')
                                  for _ in range(num_block))
        self.upsampler = nn.Sequential(
            nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, padding=1), nn.PixelShuffle(upscale))
        self.fusion = nn.Conv2d(num_out_ch * num_out, num_out, 3, padding=1) if num_out > 1 else None

    def forward(self, x, edge=None):
        _check_input(x, edge, self.num_in_ch)
        shallow = (x - self.mean) * self.img_range
        if self.edge_input:
            if edge is None:
                edge = edges.edge_map(x, self.edge_operator)
            shallow = torch.cat((shallow, edge), dim=1)
        # the blocks' edge gates read the edge map channels-last, as the features are
        guide = edge.contiguous(memory_format=torch.channels_last) if self.edge_guide == 'gate' else None

        fast = aidn_deploy.applies(self, x)
        if fast:
            # CPU inference: the same features with per-call folded kernels and fused oneDNN calls (aidn_deploy)
            tap_outputs = aidn_deploy.tap_outputs(self, shallow, guide)
        else:
            tap_outputs = self._tap_outputs(shallow, guide)
        del shallow
        # PixelShuffle maps channel blocks of upscale^2 to one output channel each, so shuffling the
        # concatenated convolution outputs gives the concatenated residual images in one call.
        # (Shuffled channels-last, the residuals stay channels-last: the fusion convolution reads them that
        # way 1.5x faster than after a copy to NCHW.) Tensors are dropped as soon as they are used: the
        # HR ones dominate the peak memory.
        stacked = torch.cat(tap_outputs, dim=1) if len(tap_outputs) > 1 else tap_outputs[0]
        tap_outputs.clear()
        residuals = self.upsampler[1](stacked)
        del stacked
        # softmax in float32 whatever the network's dtype (half, bf16, autocast): the weights then sum to 1
        # to float32 rounding, and stay float32 for the accumulation below
        # (Traced for ONNX export, the softmax is spelled out: ONNX Runtime's Softmax over the channel axis of
        # an NCHW tensor transposes it twice and runs 7x slower than the five element-wise operators.)
        exporting = aidn_deploy.exporting()
        softmax = aidn_deploy.softmax_channels if exporting else functools.partial(torch.softmax, dim=1)
        weights = softmax(self.fusion(residuals).float()) if self.fusion is not None else None

        # output = bicubic(x) + sum_k w_k * residual_k / img_range, accumulated in place into the bicubic
        # image (its backward does not need it)
        # (the convolution form also for export: ONNX Runtime's cubic Resize, profiled, is ~30x slower)
        if (fast or exporting) and self.upscale in aidn_deploy.BICUBIC_SCALES:
            out = aidn_deploy.bicubic(x, self.upscale)
        else:
            out = F.interpolate(x, scale_factor=self.upscale, mode='bicubic', align_corners=False)
        if weights is None:
            return out.add_(residuals, alpha=1 / self.img_range)
        step = residuals.shape[1] // weights.shape[1]
        for k in range(weights.shape[1]):
            out.addcmul_(weights[:, k:k + 1], residuals[:, k * step:(k + 1) * step], value=1 / self.img_range)
        return out

    def _tap_outputs(self, shallow, edge=None):
        """The upsampler-convolution outputs of the tap blocks (the training form's feature stage); ``edge``
        feeds the blocks' edge gates."""
        # Features run channels-last: oneDNN's convolutions then read and write them without reordering.
        feat = F.conv2d(shallow.contiguous(memory_format=torch.channels_last), *self._shallow_kernel(), padding=1)
        tap_outputs = []
        for index, block in enumerate(self.body):
            feat = block(feat, edge)
            if index in self.taps:
                tap_outputs.append(self.upsampler[0](feat))
        return tap_outputs

    def _shallow_kernel(self):
        """(weight, bias) of one 3x3 convolution over [image - mean, edge] equal to the dual-input shallow
        features: conv3x3 on the image and on the edge, concatenated, then the 1x1 fuse. All three are
        linear with zero padding, so the composition is exact; it replaces three convolutions and a
        concatenation of 2 * num_feat channels. Without the edge input, the image branch and the fuse."""
        channels = self.conv_first_img.out_channels
        fuse = self.conv_first_fuse.weight.flatten(1)
        weight = torch.einsum('oc,cikl->oikl', fuse[:, :channels], self.conv_first_img.weight)
        bias = fuse[:, :channels] @ self.conv_first_img.bias + self.conv_first_fuse.bias
        if self.edge_input:
            weight = torch.cat((weight, torch.einsum('oc,cikl->oikl', fuse[:, channels:],
                                                     self.conv_first_edge.weight)), dim=1)
            bias = bias + fuse[:, channels:] @ self.conv_first_edge.bias
        return weight, bias

    def fuse(self):
        """Fold every asymmetric unit into one 3x3 convolution, in place. Returns self."""
        for module in self.modules():
            if isinstance(module, AsymmetricConvUnit):
                module.fuse()
        return self

    @property
    def fused(self):
        return all(m.fused for m in self.modules() if isinstance(m, AsymmetricConvUnit))


def _check_options(num_in_ch, num_out_ch, num_feat, num_block, upscale, num_out, attention, act_type,
                   edge_operator, rgb_mean, edge_input=True, edge_guide='input'):
    if edge_guide not in EDGE_GUIDES:
        raise ValueError(f'AIDN: edge_guide must be one of {EDGE_GUIDES}, got {edge_guide!r}')
    if edge_guide == 'gate' and not edge_input:
        raise ValueError("AIDN: edge_guide='gate' needs the edge input (edge_input=True)")
    if upscale not in SUPPORTED_SCALES:
        raise ValueError(f'AIDN: upscale must be one of {SUPPORTED_SCALES}, got {upscale!r}')
    if num_in_ch not in (1, 3):
        raise ValueError(f'AIDN: num_in_ch must be 1 or 3, got {num_in_ch!r}')
    if num_out_ch != num_in_ch:
        raise ValueError(f'AIDN: num_out_ch must equal num_in_ch ({num_in_ch}), got {num_out_ch!r}')
    if not isinstance(num_feat, int) or num_feat < 2 or num_feat % 2:
        raise ValueError(f'AIDN: num_feat must be an even integer >= 2, got {num_feat!r}')
    if not isinstance(num_block, int) or num_block < 1:
        raise ValueError(f'AIDN: num_block must be an integer >= 1, got {num_block!r}')
    if not isinstance(num_out, int) or not 1 <= num_out <= num_block:
        raise ValueError(f'AIDN: num_out must be an integer in 1..num_block ({num_block}), got {num_out!r}')
    if attention not in ATTENTION_TYPES:
        raise ValueError(f'AIDN: attention must be one of {ATTENTION_TYPES}, got {attention!r}')
    if act_type not in ACTIVATIONS:
        raise ValueError(f'AIDN: act_type must be one of {ACTIVATIONS}, got {act_type!r}')
    if edge_operator not in edges.EDGE_OPERATORS:
        raise ValueError(f'AIDN: edge_operator must be one of {edges.EDGE_OPERATORS}, got {edge_operator!r}')
    if len(rgb_mean) != 3:
        raise ValueError(f'AIDN: rgb_mean must have 3 values, got {rgb_mean!r}')


def _check_input(x, edge, num_in_ch):
    if not torch.is_tensor(x) or x.dim() != 4:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f'AIDN.forward: x must be a 4-D tensor [N, {num_in_ch}, H, W], got {shape}')
    if x.shape[1] != num_in_ch:
        raise ValueError(f'AIDN.forward: x must have {num_in_ch} channels, got shape {tuple(x.shape)}')
    if edge is not None:
        expected = (x.shape[0], 1, x.shape[2], x.shape[3])
        if not torch.is_tensor(edge) or tuple(edge.shape) != expected:
            shape = tuple(edge.shape) if torch.is_tensor(edge) else type(edge).__name__
            raise ValueError(f'AIDN.forward: edge must have shape {expected}, got {shape}')
