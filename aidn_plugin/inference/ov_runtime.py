"""OpenVINO as an AIDN backend: a torch AIDN or an exported ONNX file compiled for the CPU, behind the torch
model's interface.

    from aidn_plugin.inference import ov_runtime
    model = ov_runtime.convert(torch_aidn, threads=2, precision='bf16')   # in memory, no file
    model = ov_runtime.load('aidn_x4.onnx', threads=2, precision='bf16')  # a file of "aidn export onnx"
    ov_runtime.save_ir(torch_aidn, 'aidn_x4.xml')   # the converted graph as OpenVINO IR (+ .bin), for load()
    out = model(x)          # x: [N, C, H, W] float32 torch tensor or numpy array -> same kind, [N, C, sH, sW]

:func:`convert` hands the torch model to ``openvino.convert_model`` (height and width left dynamic), which
runs faster than the ONNX file's graph (AIDN x4, 720p output, two threads, AVX-512 BF16: 131 against 144
ms in bf16; the runtimes benchmark). :func:`load` reads the fp32 file of ``aidn export onnx`` (its ONNX
front end keeps the ``upscale`` and ``num_in_ch`` metadata the exporter writes), or the OpenVINO IR ``.xml``
of :func:`save_ir` (``aidn export openvino``): the converted graph without converting again.

``precision`` is OpenVINO's inference precision hint: ``fp32`` runs every operation in float32, ``bf16``
lets the CPU plugin run convolutions and what it fuses into them in bfloat16 (fast on CPUs with AVX-512 BF16
or AMX; elsewhere the plugin emulates it or keeps fp32). The graph's inputs and outputs stay float32 either
way.

:class:`OvModel` has what :mod:`aidn_plugin.inference.tiling` reads from a torch AIDN (``upscale``,
``num_in_ch``, ``parameters()`` for the input device and dtype, ``eval()``), so ``upscale_image`` and the
tiler run it unchanged. Needs the ``openvino`` extra (``pip install "aidn-plugin[openvino]"``); importing
this module does not import openvino, loading a model does (:class:`MissingRuntimeError`, one line, when it
is not installed).
"""
import os
import warnings

import numpy as np

from aidn_plugin.inference.array_model import ArrayModel

PRECISIONS = {'fp32': 'f32', 'bf16': 'bf16'}  # ours -> OpenVINO's INFERENCE_PRECISION_HINT


class MissingRuntimeError(ImportError):
    """openvino is not installed."""


class OvModelError(ValueError):
    """The file is missing, not a model OpenVINO reads, or not an AIDN export."""


def _openvino():
    try:
        import openvino
    except ImportError:
        raise MissingRuntimeError('the openvino backend needs OpenVINO: pip install "aidn-plugin[openvino]"') from None
    return openvino


def compile_file(path, threads=None, precision='fp32'):
    """OpenVINO's compiled CPU model of ``path`` and the model it was compiled from.

    Args:
        path (str | os.PathLike): an ONNX file of ``aidn export onnx`` (fp32), or an OpenVINO IR ``.xml``.
        threads (int | None): inference threads (``INFERENCE_NUM_THREADS``); None = OpenVINO's default.
        precision (str): ``fp32`` or ``bf16`` (see the module docstring).

    Raises:
        MissingRuntimeError: openvino is not installed.
        OvModelError: the file is missing or OpenVINO cannot read or compile it.
    """
    ov = _openvino()
    path = os.fspath(path)
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {", ".join(PRECISIONS)}, got {precision!r}')
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f'threads must be a positive integer or None, got {threads!r}')
    if not os.path.isfile(path):
        raise OvModelError(f'{path}: no such model file')
    try:
        model = ov.Core().read_model(path)
        return compile_model(model, threads, precision), model
    except Exception as error:  # OpenVINO raises RuntimeError subclasses without a common useful base
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise OvModelError(f'{path}: OpenVINO cannot load it: {first}') from None


def compile_model(model, threads=None, precision='fp32'):
    """``openvino.Model`` ``model`` compiled for the CPU with the given threads and precision, latency hint,
    threads pinned (the settings :func:`compile_file` uses; for models converted in memory, e.g.
    ``openvino.convert_model``)."""
    # Pinning asked for explicitly: left to its default, OpenVINO's threads often ran slower for a while after
    # PyTorch had used every core of a 2-core EPYC (bimodal times in the runtimes benchmark); pinned, seldom.
    config = {'INFERENCE_PRECISION_HINT': PRECISIONS[precision], 'PERFORMANCE_HINT': 'LATENCY',
              'ENABLE_CPU_PINNING': True}
    if threads is not None:
        config['INFERENCE_NUM_THREADS'] = threads
    return _openvino().Core().compile_model(model, 'CPU', config)


def convert_model(model, tolerance=1e-3):
    """The torch AIDN ``model`` as an ``openvino.Model``, converted in memory by ``openvino.convert_model``.

    The model is traced in its export form (``aidn_deploy.export_form``) with batch, height and width
    dynamic; the graph carries the ``upscale`` and ``num_in_ch`` metadata and is checked against PyTorch in
    fp32 on a 24x40 input before it is returned.

    Args:
        model (nn.Module): AIDN (fused or not), converted on the CPU in float32, eval mode.
        tolerance (float): largest allowed absolute difference of the fp32 check.

    Raises:
        MissingRuntimeError: openvino is not installed.
        OvModelError: the conversion fails or its output differs from PyTorch's beyond ``tolerance``.
    """
    import torch

    from aidn_plugin.archs import aidn_deploy
    ov = _openvino()
    model = model.float().cpu().eval()
    in_ch = getattr(model, 'num_in_ch', 3)
    example = torch.rand(1, in_ch, 24, 40, generator=torch.Generator().manual_seed(0))
    try:
        with warnings.catch_warnings(), torch.no_grad(), aidn_deploy.export_form():
            warnings.simplefilter('ignore')  # tracer warnings on forward()'s input checks
            converted = ov.convert_model(model, example_input=example,
                                         input=[ov.PartialShape([-1, in_ch, -1, -1])])
            expected = model(example).numpy()
        for key, value in (('upscale', model.upscale), ('num_in_ch', in_ch)):
            converted.set_rt_info(str(value), ['framework', key])
        got = compile_model(converted, 1, 'fp32').create_infer_request().infer({0: example.numpy()})[0]
    except Exception as error:  # the converter raises many types; all mean "no usable model"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise OvModelError(f'openvino.convert_model failed: {first}') from None
    worst = float(np.abs(got - expected).max()) if got.shape == expected.shape else float('inf')
    if worst > tolerance:
        raise OvModelError(f'the converted model differs from PyTorch by up to {worst:.3g} (tolerance {tolerance:g})')
    return converted


def convert(model, threads=None, precision='fp32', tolerance=1e-3):
    """``OvModel`` of the torch AIDN ``model``: :func:`convert_model`, compiled with ``threads`` and
    ``precision`` (as for :func:`compile_file`)."""
    converted = convert_model(model, tolerance)
    return OvModel(compile_model(converted, threads, precision), converted, precision)


def save_ir(model, path, tolerance=1e-3):
    """:func:`convert_model` of ``model`` written as OpenVINO IR: ``path`` (``.xml``) and the ``.bin`` beside
    it, each through the atomic writer, the ``.bin`` first (an ``.xml`` never appears without its weights).
    Weights stay float32. :func:`load` reads the pair."""
    import shutil
    import tempfile

    from aidn_plugin.utils.atomic import staged_file
    converted = convert_model(model, tolerance)
    path = os.fspath(path)
    with tempfile.TemporaryDirectory() as work:
        _openvino().save_model(converted, os.path.join(work, 'model.xml'), compress_to_fp16=False)
        for suffix in ('.bin', '.xml'):
            with staged_file(os.path.splitext(path)[0] + suffix) as tmp:
                shutil.copyfile(os.path.join(work, 'model' + suffix), tmp)
    return converted


def _metadata(model, key, default=None):
    try:
        return model.get_rt_info(['framework', key]).astype(str)
    except Exception:  # absent key: OpenVINO raises a plain RuntimeError
        return default


class OvModel(ArrayModel):
    """A compiled OpenVINO model callable like the torch AIDN.

    Args:
        compiled: ``openvino.CompiledModel`` from :func:`compile_file`.
        model: the ``openvino.Model`` it was compiled from (its metadata gives the scale).
        precision (str): the precision it was compiled with (``fp32`` or ``bf16``), for reports.

    Attributes:
        upscale (int), num_in_ch (int): from the file's metadata (written by the exporter).
        precision (str): as given.
    """

    def __init__(self, compiled, model, precision='fp32'):
        try:
            self.upscale = int(_metadata(model, 'upscale'))
            self.num_in_ch = int(_metadata(model, 'num_in_ch', 3))
        except (TypeError, ValueError):
            raise OvModelError('the model has no "upscale" metadata: export it with "aidn export onnx"') from None
        self.precision = precision
        self.request = compiled.create_infer_request()

    def run(self, array):
        """[N, C, H, W] float32 numpy array -> [N, C, H * upscale, W * upscale] float32 numpy array."""
        return np.array(self.request.infer({0: array})[0], copy=True)  # the request reuses its buffer


def load(path, threads=None, precision='fp32'):
    """``OvModel(*compile_file(path, threads, precision), precision)``."""
    compiled, model = compile_file(path, threads, precision)
    return OvModel(compiled, model, precision)
