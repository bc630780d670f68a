"""Parameters, MACs and activations of a network, counted with ``mmengine.analysis``.

mmengine's ``flops`` are multiply-accumulates (one per weight per output pixel for a convolution), the
convention of the field's "FLOPs"/"Multi-Adds" columns, so they are reported here as MACs.
"""
import logging
import warnings

import torch


def parse_size(text):
    """``'1280x720'`` -> (width, height)."""
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise ValueError(f'size must look like WIDTHxHEIGHT (e.g. 1280x720), got {text!r}') from None
    if width < 1 or height < 1:
        raise ValueError(f'size must be positive, got {text!r}')
    return width, height


def count_complexity(model, output_size=(1280, 720), scale=4, in_ch=3):
    """Count a network at an output size.

    Args:
        model (nn.Module): the network; called once as ``model(x)`` on a zero LR input.
        output_size (tuple): (width, height) of the super-resolved output; each must divide by ``scale``.
        scale (int): the network's upscale factor.
        in_ch (int): input channels.

    Returns:
        dict: ``params`` (int), ``macs`` (int), ``activations`` (int), ``lr_size`` (width, height).
    """
    from mmengine.analysis import ActivationAnalyzer, FlopAnalyzer
    width, height = output_size
    if width % scale or height % scale:
        raise ValueError(f'output size {width}x{height} is not a multiple of the scale {scale}')
    x = torch.zeros(1, in_ch, height // scale, width // scale)
    was_training = model.training
    model.eval()
    with warnings.catch_warnings(), torch.no_grad():
        # mmengine warns for every op it does not count (interpolate, softmax...): negligible ones here.
        warnings.simplefilter('ignore')
        mm_logger = logging.getLogger('mmengine')
        level = mm_logger.level
        mm_logger.setLevel(logging.ERROR)
        try:
            flops = FlopAnalyzer(model, (x, ))
            flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            acts = ActivationAnalyzer(model, (x, ))
            acts.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            macs, activations = flops.total(), acts.total()
        finally:
            mm_logger.setLevel(level)
    model.train(was_training)
    return {
        'params': sum(p.numel() for p in model.parameters()),
        'macs': int(macs),
        'activations': int(activations),
        'lr_size': (width // scale, height // scale),
    }
