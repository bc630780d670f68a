"""ONNX export of AIDN with dynamic batch, height and width, verified with onnxruntime.

Exporter: ``torch.onnx.export(..., dynamo=False)``, the TorchScript-based exporter. On torch 2.14 the
``dynamo=True`` exporter needs the ``onnxscript`` package, which is not a dependency; the TorchScript
exporter needs nothing beyond ``onnx`` and produces a graph whose H and W are symbolic (the network has no
shape-dependent Python control flow: the edge operator's padding, the bicubic base and PixelShuffle are
all traced as shape-generic ops). Default opset: 17 (ONNX Runtime >= 1.11, TensorRT 8.5+, OpenVINO 2022+).

The model is traced and frozen (``torch.jit.trace`` + ``torch.jit.freeze``) before the export: freezing
turns the parameters into constants and folds every computation on them alone, so kernels the network
assembles from its weights at run time (a folded convolution, a composed shallow-feature kernel) reach
the exporter as plain constant kernels, which its convolution export requires, and the graph does not
redo that work on every call. The trace runs inside ``aidn_deploy.export_form()``: the graph then spells
the bicubic base as a grouped convolution and a DepthToSpace (x2, x4), the fusion softmax as max, exp,
sum and divide, and the attention means as global average pools, the same function in the operators ONNX
Runtime runs fastest (its cubic Resize and channel-axis Softmax were 25% and 7% of its time).

The graph takes ``input`` [N, C, H, W] (float32, RGB or grey in [0, 1]) and returns ``output``
[N, C, H * s, W * s] (not clamped). The model's edge map is computed inside the graph. Metadata
properties record the scale and channels (``upscale``, ``num_in_ch``).

After export the file is checked with ``onnx.checker`` and run by onnxruntime on random inputs of sizes
different from the traced one; the largest absolute difference to PyTorch must stay within ``tolerance``,
or the export fails and nothing is written.
"""
import warnings

from aidn_plugin.utils.atomic import staged_file

DEFAULT_OPSET = 17
DEFAULT_TOLERANCE = 1e-4
TRACE_SIZE = (64, 64)  # (H, W) of the example input the graph is traced with
CHECK_SIZES = ((40, 56), (67, 33))  # (H, W) pairs checked with onnxruntime; both differ from TRACE_SIZE


class ExportError(RuntimeError):
    """The export failed or its output disagrees with PyTorch; nothing was written."""


def export_onnx(model, path, opset=DEFAULT_OPSET, tolerance=DEFAULT_TOLERANCE, check_sizes=CHECK_SIZES, seed=0):
    """Export ``model`` to ``path`` and verify it.

    Args:
        model (nn.Module): AIDN (fused or not); it is exported as is, on the CPU, in float32, eval mode.
        path (str): output ``.onnx`` file, written atomically once verified.
        opset (int): ONNX opset. Default 17.
        tolerance (float): largest allowed absolute difference between onnxruntime and PyTorch.
        check_sizes (tuple): (H, W) input sizes to compare at.
        seed (int): seed of the random inputs.

    Returns:
        dict: ``opset``, ``tolerance`` and ``max_abs_error`` {(H, W): float}.

    Raises:
        ExportError: the exporter, the ONNX checker or onnxruntime failed, or an error exceeds tolerance.
        ImportError: ``onnx`` or ``onnxruntime`` is not installed (the ``onnx`` extra).
    """
    import onnx
    import onnxruntime
    import torch

    from aidn_plugin.archs import aidn_deploy

    model = model.float().cpu().eval()
    in_ch = getattr(model, 'num_in_ch', 3)
    generator = torch.Generator().manual_seed(seed)
    example = torch.rand(1, in_ch, *TRACE_SIZE, generator=generator)
    with staged_file(path) as tmp:
        with warnings.catch_warnings():
            # Tracer warnings on the input checks of forward() (constant channel count: true) and the
            # exporter's deprecation notice would only bury the result.
            warnings.simplefilter('ignore')
            try:
                # export_form: the graph spelled for ONNX Runtime (aidn_deploy.export_form)
                with torch.no_grad(), aidn_deploy.export_form():
                    frozen = torch.jit.freeze(torch.jit.trace(model, (example, ), check_trace=False))
                torch.onnx.export(
                    frozen, (example, ), tmp, dynamo=False, opset_version=opset, do_constant_folding=True,
                    input_names=['input'], output_names=['output'],
                    dynamic_axes={'input': {0: 'batch', 2: 'height', 3: 'width'},
                                  'output': {0: 'batch', 2: 'out_height', 3: 'out_width'}})
            except Exception as error:  # the exporter raises many types; all mean "no usable file"
                raise ExportError(f'torch.onnx.export failed (opset {opset}): {_first_line(error)}') from None
        proto = onnx.load(tmp)
        for key, value in (('upscale', model.upscale), ('num_in_ch', in_ch), ('producer', 'aidn-plugin')):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, str(value)
        try:
            onnx.checker.check_model(proto)
        except onnx.checker.ValidationError as error:
            raise ExportError(f'the exported graph is not valid ONNX: {_first_line(error)}') from None
        onnx.save(proto, tmp)

        try:
            session = onnxruntime.InferenceSession(tmp, providers=['CPUExecutionProvider'])
        except Exception as error:  # onnxruntime's pybind errors share no useful base class
            raise ExportError(f'onnxruntime cannot load the exported graph: {_first_line(error)}') from None
        errors = {}
        for height, width in check_sizes:
            x = torch.rand(1, in_ch, height, width, generator=generator)
            with torch.inference_mode():
                expected = model(x).numpy()
            got = session.run(['output'], {'input': x.numpy()})[0]
            if got.shape != expected.shape:
                raise ExportError(f'onnxruntime output shape {got.shape} != PyTorch {expected.shape} for a '
                                  f'{height}x{width} input (dynamic axes not working)')
            errors[(height, width)] = float(abs(got - expected).max())
        worst = max(errors.values())
        if worst > tolerance:
            raise ExportError(f'onnxruntime differs from PyTorch by up to {worst:.3g} (tolerance {tolerance:g})')
    return {'opset': opset, 'tolerance': tolerance, 'max_abs_error': errors}


def _first_line(error):
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
