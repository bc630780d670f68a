"""int8 ONNX: static quantization of an exported fp32 AIDN with ONNX Runtime's quantization tool, and its
measured quality change.

``quantize_int8(fp32_path, int8_path, calibration, scale)``:

1. ``onnxruntime.quantization.quant_pre_process`` (shape inference and graph optimisation before
   quantizing, as ONNX Runtime recommends);
2. ``quantize_static``: activations uint8, weights int8 per output channel (7-bit range by default, see
   ``WEIGHTS``), scales from running the fp32
   graph on the calibration inputs (``method``: ``minmax``, ``entropy`` or ``percentile``), in the
   ``fmt`` given (``qdq``, the default, measured faster here than ``qoperator``). Quantized are the
   convolutions and what runs between them (``DEFAULT_OP_TYPES``); the additions, products, softmax and
   the bicubic base's convolution stay float. ``exclude`` keeps more convolutions in float
   (``EXCLUDABLE``: ``first`` the shallow features, ``upsampler`` the residual images, ``fusion`` the
   softmax logits, ``attention`` the channel-attention squeeze/excite);
3. the written file is loaded by onnxruntime and run once (a file that does not run is not kept).

Calibration inputs are LR images: each calibration photograph is cut to at most ``patch * scale``
pixels square (centre), bicubic-downscaled by the model's scale (MATLAB-style, as the benchmark LR images
are made) and fed in whole. Without calibration files, the photographs that ship with scikit-image
(``skimage/data``) are used (:func:`default_calibration_images`).

:func:`measure_quality` reports the Y-PSNR (BT.601 luma, border of ``scale`` pixels cropped) of the fp32
and the int8 graph against the original photograph of held-out images, and their difference.
"""
import math
import os
import tempfile

from aidn_plugin.utils.atomic import staged_file

# numpy, onnx and onnxruntime are imported where used: the CLI reads this module's constants for its help

METHODS = ('minmax', 'entropy', 'percentile')
FORMATS = ('qdq', 'qoperator')
EXCLUDABLE = ('first', 'upsampler', 'fusion', 'attention')
# what is quantized: convolutions and what runs between them (kept in int8 from one to the next); the
# additions, products and the softmax of the attention, residuals and fusion stay float
DEFAULT_OP_TYPES = ('Conv', 'LeakyRelu', 'Concat')
# Weights: ``int7`` = int8 in the 7-bit range (reduce_range), the default. On x86 CPUs without VNNI (AVX2,
# AVX-512 without VNNI) onnxruntime multiplies uint8 activations by int8 weights with VPMADDUBSW, whose
# pairwise int16 sums saturate with full-range weights: measured on AVX2
# (benchmarks/int8_quality_avx2_2026-12-01.json) full int8 lost 0.34 dB Y-PSNR on Set5, 7-bit 0.04 dB at the
# same speed; ``uint8`` weights do not saturate but ran no faster than fp32. On VNNI CPUs ``int8`` is safe
# (benchmarks/int8_quality.json: 0.02 dB).
WEIGHTS = ('int7', 'int8', 'uint8')
DEFAULT_WEIGHTS = 'int7'
DEFAULT_METHOD = 'minmax'
DEFAULT_FORMAT = 'qdq'
DEFAULT_EXCLUDE = ()
DEFAULT_PATCH = 48  # largest LR side of a calibration input (measured: 48 lost 0.01 dB less than 96, 192)
# scikit-image's colour and grey photographs (not its synthetic test patterns or microscopy)
SKIMAGE_PHOTOS = ('astronaut.png', 'chelsea.png', 'coffee.png', 'rocket.jpg', 'motorcycle_left.png',
                  'camera.png', 'brick.png', 'grass.png', 'gravel.png', 'motorcycle_right.png')


class QuantizeError(RuntimeError):
    """Quantization failed or its inputs are unusable; nothing was written."""


def default_calibration_images():
    """Paths of scikit-image's bundled photographs (``skimage/data``), in a fixed order.

    Raises:
        QuantizeError: scikit-image is not installed or its data folder lacks them.
    """
    try:
        import skimage
    except ImportError:
        raise QuantizeError('default calibration uses the photographs of scikit-image, which is not '
                            'installed; give --calibration FILES or pip install scikit-image') from None
    folder = os.path.join(os.path.dirname(skimage.__file__), 'data')
    paths = [os.path.join(folder, name) for name in SKIMAGE_PHOTOS if os.path.isfile(os.path.join(folder, name))]
    if not paths:
        raise QuantizeError(f'{folder}: none of scikit-image\'s photographs found; give --calibration FILES')
    return paths


def _rgb_uint8(path):
    import numpy as np
    from aidn_plugin.utils.image_files import read_image
    image = read_image(path)
    if image.dtype != np.uint8:
        image = (image.astype(np.float64) / np.iinfo(image.dtype).max * 255).round().astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, 2::-1])  # BGR(A) -> RGB


def hr_lr_pair(path, scale, patch=DEFAULT_PATCH):
    """(HR, LR) uint8 RGB arrays from one photograph: a centre crop of at most ``patch * scale`` pixels
    (a multiple of ``scale``) and its MATLAB-style bicubic downscale."""
    from aidn_plugin.utils.bicubic import bicubic_downscale
    image = _rgb_uint8(path)
    height, width = image.shape[:2]
    side_h = min(height, patch * scale) // scale * scale
    side_w = min(width, patch * scale) // scale * scale
    if side_h < scale * 8 or side_w < scale * 8:
        raise QuantizeError(f'{path}: {width}x{height} is too small for calibration at x{scale} '
                            f'(at least {8 * scale} pixels a side)')
    top, left = (height - side_h) // 2, (width - side_w) // 2
    hr = image[top:top + side_h, left:left + side_w]
    return hr, bicubic_downscale(hr, scale)


def _to_input(lr):
    import numpy as np
    return np.ascontiguousarray(lr.transpose(2, 0, 1)[None], dtype=np.float32) / 255.


def _centre(x, height, width):
    top, left = (x.shape[2] - height) // 2, (x.shape[3] - width) // 2
    return x[:, :, top:top + height, left:left + width].copy()


def _excluded_nodes(proto, exclude):
    """Names of the convolutions of ``exclude`` kinds in the (pre-processed) graph, plus the bicubic base."""
    consumers = {}
    for node in proto.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def feeds(node, op_types, depth=2):
        """Whether an output of ``node`` reaches one of ``op_types`` within ``depth`` nodes."""
        frontier = [node]
        for _ in range(depth):
            frontier = [c for n in frontier for out in n.output for c in consumers.get(out, [])]
            if any(c.op_type in op_types for c in frontier):
                return True
        return False

    convs = [node for node in proto.graph.node if node.op_type == 'Conv']
    # always float: the bicubic base (the one grouped convolution): int8 steps would show in the output
    names = {node.name for node in convs if any(a.name == 'group' and a.i > 1 for a in node.attribute)}
    convs = [node for node in convs if node.name not in names]
    if 'first' in exclude and convs:
        names.add(convs[0].name)  # the shallow features (graph order)
    for node in convs:
        if (('upsampler' in exclude and feeds(node, ('DepthToSpace', )))
                or ('fusion' in exclude and feeds(node, ('ReduceMax', 'Softmax'), depth=1))
                or ('attention' in exclude and feeds(node, ('Relu', 'Sigmoid'), depth=1))):
            names.add(node.name)
    return sorted(names)


def quantize_int8(fp32_path, int8_path, calibration, scale, method=DEFAULT_METHOD, fmt=DEFAULT_FORMAT,
                  exclude=DEFAULT_EXCLUDE, patch=DEFAULT_PATCH, op_types=DEFAULT_OP_TYPES, weights=DEFAULT_WEIGHTS):
    """Write the int8 version of the exported fp32 AIDN ``fp32_path`` to ``int8_path`` (atomically).

    Args:
        fp32_path (str): an fp32 export (``aidn export onnx``).
        int8_path (str): output file.
        calibration (list[str]): image files; each gives one LR input (see the module docstring).
        scale (int): the model's upscale factor (for the LR inputs).
        method (str): ``minmax`` (default), ``entropy`` or ``percentile`` calibration.
        fmt (str): ``qdq`` (default: QuantizeLinear/DequantizeLinear pairs, fused by onnxruntime) or
            ``qoperator`` (QLinearConv etc.).
        exclude (tuple[str]): node kinds kept in float, from ``EXCLUDABLE``.
        op_types (tuple[str]): ONNX op types to quantize (``DEFAULT_OP_TYPES``; empty: all the tool can).
        weights (str): ``int7`` (default), ``int8`` or ``uint8`` (see ``WEIGHTS``).
        patch (int): largest LR side of a calibration input.

    Raises:
        QuantizeError: bad options, unreadable calibration images, or a failed quantization.
        ImportError: onnx or onnxruntime missing.
    """
    import onnx
    from onnxruntime import quantization as q

    if method not in METHODS:
        raise QuantizeError(f'calibration method must be one of {", ".join(METHODS)}, got {method!r}')
    if fmt not in FORMATS:
        raise QuantizeError(f'quantization format must be one of {", ".join(FORMATS)}, got {fmt!r}')
    if weights not in WEIGHTS:
        raise QuantizeError(f'weights must be one of {", ".join(WEIGHTS)}, got {weights!r}')
    unknown = [kind for kind in exclude if kind not in EXCLUDABLE]
    if unknown:
        raise QuantizeError(f'cannot exclude {unknown[0]!r}; expected some of {", ".join(EXCLUDABLE)}')
    if not calibration:
        raise QuantizeError('no calibration images')
    inputs = [_to_input(hr_lr_pair(path, scale, patch)[1]) for path in calibration]
    # one size for all (the histogram calibrators stack the activations of all inputs): the common centre
    height, width = min(x.shape[2] for x in inputs), min(x.shape[3] for x in inputs)
    inputs = [_centre(x, height, width) for x in inputs]

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self._items = iter(inputs)

        def get_next(self):
            item = next(self._items, None)
            return None if item is None else {'input': item}

    calibrate = {'minmax': q.CalibrationMethod.MinMax, 'entropy': q.CalibrationMethod.Entropy,
                 'percentile': q.CalibrationMethod.Percentile}[method]
    quant_format = {'qdq': q.QuantFormat.QDQ, 'qoperator': q.QuantFormat.QOperator}[fmt]
    with staged_file(int8_path) as tmp, tempfile.TemporaryDirectory() as work:
        pre = os.path.join(work, 'preprocessed.onnx')
        try:
            q.quant_pre_process(fp32_path, pre, skip_symbolic_shape=True)
            excluded = _excluded_nodes(onnx.load(pre), exclude)
            q.quantize_static(pre, tmp, Reader(), quant_format=quant_format, per_channel=True,
                              activation_type=q.QuantType.QUInt8,
                              weight_type=q.QuantType.QUInt8 if weights == 'uint8' else q.QuantType.QInt8,
                              op_types_to_quantize=list(op_types) if op_types else None, calibrate_method=calibrate,
                              nodes_to_exclude=excluded, reduce_range=weights == 'int7')
        except Exception as error:  # the tool raises many types; all mean "no usable file"
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise QuantizeError(f'onnxruntime quantization failed: {first}') from None
        _copy_metadata(fp32_path, tmp)
        try:
            from aidn_plugin.inference import ort_runtime
            ort_runtime.load(tmp, threads=1).run(inputs[0][:, :, :16, :16])
        except Exception as error:  # whatever fails here, the file is unusable
            raise QuantizeError(f'the int8 graph does not run in onnxruntime: {error}') from None
    return {'calibration_images': len(inputs), 'method': method, 'format': fmt, 'weights': weights,
            'excluded_nodes': excluded}


def _copy_metadata(source, target):
    import onnx
    metadata = {p.key: p.value for p in onnx.load(source).metadata_props}
    proto = onnx.load(target)
    del proto.metadata_props[:]
    for key, value in dict(metadata, quantization='int8').items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, target)


def y_channel(rgb):
    """BT.601 luma in [16, 235] of a uint8 RGB image (what BasicSR's ``test_y_channel`` compares)."""
    import numpy as np
    rgb = rgb.astype(np.float64) / 255.
    return 16. + rgb @ np.array([65.481, 128.553, 24.966])


def y_psnr(sr, hr, border):
    """Y-PSNR (dB) of uint8 RGB ``sr`` against ``hr``, ``border`` pixels cropped on every side."""
    import numpy as np
    a, b = y_channel(sr), y_channel(hr)
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    mse = np.mean((a - b) ** 2)
    return math.inf if mse == 0 else 10. * math.log10(255. ** 2 / mse)


def upscale_rgb(model, lr):
    """Upscale a uint8 RGB LR image, whole, with a torch AIDN or a runtime model (ONNX Runtime, OpenVINO), to uint8
    RGB."""
    import numpy as np

    from aidn_plugin.inference.array_model import ArrayModel
    x = _to_input(lr)
    if isinstance(model, ArrayModel):  # a runtime model (ONNX Runtime, OpenVINO)
        out = model.run(x)
    else:
        import torch
        with torch.no_grad():
            out = model(torch.from_numpy(x)).numpy()
    return (np.clip(out[0].transpose(1, 2, 0), 0, 1) * 255.).round().astype(np.uint8)


def measure_quality(fp32_model, int8_model, images, scale, patch=DEFAULT_PATCH):
    """Y-PSNR of both models on ``images`` (HR crops and their bicubic LR, see :func:`hr_lr_pair`).

    Returns:
        dict: ``fp32_db``, ``int8_db`` (means over the images), ``change_db`` (int8 - fp32),
        ``int8_vs_fp32_db`` (Y-PSNR of the int8 output against the fp32 output), ``images``.
    """
    import numpy as np
    fp32, int8, agreement = [], [], []
    for path in images:
        hr, lr = hr_lr_pair(path, scale, patch)
        a, b = upscale_rgb(fp32_model, lr), upscale_rgb(int8_model, lr)
        fp32.append(y_psnr(a, hr, scale))
        int8.append(y_psnr(b, hr, scale))
        agreement.append(y_psnr(b, a, scale))
    return {'fp32_db': float(np.mean(fp32)), 'int8_db': float(np.mean(int8)),
            'change_db': float(np.mean(int8) - np.mean(fp32)), 'int8_vs_fp32_db': float(np.mean(agreement)),
            'images': len(fp32)}


def split_held_out(paths, every=4):
    """(calibration, held_out): every ``every``-th image is held out (at least one when there are two or
    more; a single image serves both)."""
    paths = list(paths)
    if len(paths) < 2:
        return paths, paths
    held = paths[every - 1::every] or paths[-1:]
    return [p for p in paths if p not in held], held


def collect_calibration(specs):
    """Image files of ``--calibration`` arguments (files, folders, globs). Raises QuantizeError naming
    the first argument that gives none."""
    from aidn_plugin.utils.image_files import collect_inputs
    files = []
    for spec in specs:
        found, errors = collect_inputs([spec])
        if errors or not found:
            reason = errors[0] if errors else f'{spec}: no images'
            raise QuantizeError(f'--calibration {spec}: {reason}')
        files.extend(found)
    return files

