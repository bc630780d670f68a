"""ONNX Runtime as an AIDN backend: an exported file (fp32 or int8) behind the torch model's interface.

    from aidn_plugin.inference import ort_runtime
    session = ort_runtime.build_session('aidn_x4.onnx', threads=2)   # onnxruntime.InferenceSession
    model = ort_runtime.OrtModel(session)                          # or ort_runtime.load(path, threads)
    out = model(x)          # x: [N, C, H, W] float32 torch tensor or numpy array -> same kind, [N, C, sH, sW]

:class:`OrtModel` has what :mod:`aidn_plugin.inference.tiling` reads from a torch AIDN (``upscale``,
``num_in_ch``, ``parameters()`` for the input device and dtype, ``eval()``), so ``upscale_image`` and
``iter_tiles`` run it unchanged. ``upscale`` and ``num_in_ch`` come from the metadata
:func:`aidn_plugin.inference.onnx_export.export_onnx` writes.

Needs the ``onnx`` extra (``pip install "aidn-plugin[onnx]"``); importing this module does not import
onnxruntime, building a session does (:class:`MissingRuntimeError`, one line, when it is not installed).
"""
import os

from aidn_plugin.inference.array_model import ArrayModel


class MissingRuntimeError(ImportError):
    """onnxruntime is not installed."""


class OrtModelError(ValueError):
    """The file is missing, not ONNX, or not an AIDN export."""


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise MissingRuntimeError('the onnxruntime backend needs onnxruntime: pip install "aidn-plugin[onnx]"') from None
    return onnxruntime


def build_session(onnx_path, threads=None):
    """An ``onnxruntime.InferenceSession`` for ``onnx_path`` on the CPU.

    Args:
        onnx_path (str | os.PathLike): an exported AIDN (``aidn export onnx``, fp32 or ``--int8``).
        threads (int | None): intra-op threads (as ``torch.set_num_threads``); None = onnxruntime's
            default (one per physical core). Inter-op parallelism is off (the graph is one chain).

    Raises:
        MissingRuntimeError: onnxruntime is not installed.
        OrtModelError: the file is missing or onnxruntime cannot load it.
    """
    ort = _onnxruntime()
    path = os.fspath(onnx_path)
    if not os.path.isfile(path):
        raise OrtModelError(f'{path}: no such ONNX file')
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f'threads must be a positive integer or None, got {threads!r}')
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads is not None:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(path, sess_options=options, providers=['CPUExecutionProvider'])
    except Exception as error:  # onnxruntime's pybind errors share no useful base class
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise OrtModelError(f'{path}: onnxruntime cannot load it: {first}') from None


class OrtModel(ArrayModel):
    """An onnxruntime session callable like the torch AIDN.

    Args:
        session (onnxruntime.InferenceSession): from :func:`build_session`.

    Attributes:
        upscale (int), num_in_ch (int): from the file's metadata (written by the exporter).
        session: the wrapped session (its ``run`` is what ``__call__`` times).
    """

    def __init__(self, session):
        self.session = session
        meta = session.get_modelmeta().custom_metadata_map
        try:
            self.upscale = int(meta['upscale'])
            self.num_in_ch = int(meta.get('num_in_ch', 3))
        except (KeyError, ValueError):
            raise OrtModelError('the ONNX file has no "upscale" metadata: export it with "aidn export onnx"') from None
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name

    def run(self, array):
        """[N, C, H, W] float32 numpy array -> [N, C, H * upscale, W * upscale] float32 numpy array."""
        return self.session.run([self.output_name], {self.input_name: array})[0]


def load(onnx_path, threads=None):
    """``OrtModel(build_session(onnx_path, threads))``."""
    return OrtModel(build_session(onnx_path, threads))
