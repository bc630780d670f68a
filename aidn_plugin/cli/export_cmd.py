"""``aidn export onnx -m NAME | --weights PATH -o OUT.onnx [--int8 [--calibration IMAGES...]]``: ONNX with
dynamic H/W, checked against onnxruntime; ``--int8`` writes a statically quantized model and prints its
Y-PSNR change against fp32 on held-out calibration images (needs the ``onnx`` extra:
``pip install "aidn-plugin[onnx]"``).

``aidn export openvino -m NAME | --weights PATH -o OUT.xml``: the in-memory OpenVINO conversion that ``aidn
upscale --backend openvino -m`` runs, checked against PyTorch in fp32 and written as IR (OUT.xml + OUT.bin;
needs the ``openvino`` extra)."""
import os

from aidn_plugin.cli.errors import UsageError
from aidn_plugin.cli.model_options import add_model_arguments, load_model_from_args
from aidn_plugin.inference.onnx_export import DEFAULT_OPSET, DEFAULT_TOLERANCE
from aidn_plugin.inference.onnx_quantize import (DEFAULT_FORMAT, DEFAULT_METHOD, DEFAULT_WEIGHTS, EXCLUDABLE, FORMATS,
                                                 METHODS, WEIGHTS)


def add_parser(sub):
    parser = sub.add_parser('export', help='export a model (onnx, openvino)', description='Export AIDN to other runtimes.')
    formats = parser.add_subparsers(dest='export_format', metavar='FORMAT', required=True)
    onnx = formats.add_parser('onnx', help='ONNX with dynamic batch/height/width, verified with onnxruntime',
                              description='Export to ONNX (TorchScript exporter, dynamic batch, height and '
                              'width) and compare onnxruntime with PyTorch on random inputs of two sizes.')
    add_model_arguments(onnx)
    onnx.add_argument('-o', '--output', required=True, metavar='OUT.onnx', help='output file')
    onnx.add_argument('--opset', type=int, default=DEFAULT_OPSET, help=f'ONNX opset; default {DEFAULT_OPSET}')
    onnx.add_argument('--unfused', action='store_true', help='export the training form (default: fused)')
    onnx.add_argument('--tolerance', type=float, default=DEFAULT_TOLERANCE,
                      help=f'largest allowed |onnxruntime - PyTorch|; default {DEFAULT_TOLERANCE:g}')
    onnx.add_argument('--force', action='store_true', help='overwrite an existing output file')
    int8 = onnx.add_argument_group('int8 (static quantization with onnxruntime.quantization)')
    int8.add_argument('--int8', action='store_true',
                      help='write an int8 model: uint8 activations, int8 per-channel weights, calibrated on '
                      'images; prints its Y-PSNR change against fp32 on held-out images')
    int8.add_argument('--calibration', nargs='+', metavar='IMAGES', default=None,
                      help='calibration images (files, folders, globs); every 4th is held out for the '
                      'Y-PSNR check. Default: the photographs that ship with scikit-image')
    int8.add_argument('--calibration-method', choices=METHODS, default=DEFAULT_METHOD,
                      help=f'how activation ranges are set; default {DEFAULT_METHOD}')
    int8.add_argument('--int8-format', choices=FORMATS, default=DEFAULT_FORMAT,
                      help=f'qdq (Quantize/DequantizeLinear pairs) or qoperator (QLinearConv...); '
                      f'default {DEFAULT_FORMAT}')
    int8.add_argument('--int8-weights', choices=WEIGHTS, default=DEFAULT_WEIGHTS,
                      help='int7: int8 weights in the 7-bit range (no int16 saturation on CPUs without VNNI); '
                      f'int8: full range (VNNI CPUs); uint8: no saturation, slower; default {DEFAULT_WEIGHTS}')
    int8.add_argument('--int8-exclude', nargs='+', choices=EXCLUDABLE, default=(), metavar='PART',
                      help=f'convolutions kept in float: {", ".join(EXCLUDABLE)}')
    ov = formats.add_parser('openvino', help='OpenVINO IR (.xml + .bin) of the in-memory conversion',
                            description='Convert with openvino.convert_model (dynamic batch, height and width; the '
                            'graph aidn upscale --backend openvino -m builds), compare with PyTorch in fp32, and '
                            'write OUT.xml and OUT.bin (float32 weights). aidn upscale --onnx OUT.xml runs it '
                            'without converting again.')
    add_model_arguments(ov)
    ov.add_argument('-o', '--output', required=True, metavar='OUT.xml', help='output file (.xml; the .bin goes beside it)')
    ov.add_argument('--unfused', action='store_true', help='export the training form (default: fused)')
    ov.add_argument('--force', action='store_true', help='overwrite existing output files')
    parser.set_defaults(run=run)


def _check_output(args, paths):
    """Refuse an output that exists (without --force), is a folder, or lies in a missing folder."""
    for path in paths:
        if os.path.exists(path) and not args.force:
            raise UsageError(f'{path} exists (use --force to overwrite)')
        if os.path.isdir(path):
            raise UsageError(f'-o {args.output}: {path} is a folder; give a file name such as '
                             f'aidn_x4{os.path.splitext(args.output)[1] or ".onnx"}')
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise UsageError(f'-o {args.output}: folder {folder} does not exist')


def run_openvino(args):
    from aidn_plugin.inference import ov_runtime
    if not args.output.endswith('.xml'):
        raise UsageError(f'-o {args.output}: an OpenVINO IR file ends in .xml (its weights go to the .bin beside it)')
    _check_output(args, (args.output, args.output[:-4] + '.bin'))
    model = load_model_from_args(args, fuse=not args.unfused, device='cpu')
    try:
        ov_runtime.save_ir(model, args.output)
    except ov_runtime.MissingRuntimeError:
        raise UsageError('OpenVINO export needs the openvino extra: pip install "aidn-plugin[openvino]"') from None
    except ov_runtime.OvModelError as error:
        raise UsageError(str(error)) from None
    print(f'wrote {args.output} and {os.path.basename(args.output[:-4])}.bin: AIDN x{model.upscale} '
          f'({"unfused" if args.unfused else "fused"}), OpenVINO IR, dynamic batch/height/width, float32 weights, '
          'checked against PyTorch in fp32')
    return 0


def run(args):
    if args.export_format == 'openvino':
        return run_openvino(args)
    try:
        from aidn_plugin.inference.onnx_export import ExportError, export_onnx
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise UsageError(f'ONNX export needs the onnx extra ({error.name} is missing): '
                         'pip install "aidn-plugin[onnx]"') from None
    _check_output(args, (args.output, ))
    int8_given = [flag for flag, given in (('--calibration', args.calibration is not None),
                                           ('--int8-exclude', bool(args.int8_exclude))) if given]
    if int8_given and not args.int8:
        raise UsageError(f'{int8_given[0]} applies to --int8 only')
    calibration = _calibration_images(args.calibration) if args.int8 else None
    model = load_model_from_args(args, fuse=not args.unfused, device='cpu')
    form = 'unfused' if args.unfused else 'fused'
    if args.int8:
        return _export_int8(model, args, calibration, form)
    try:
        report = export_onnx(model, args.output, opset=args.opset, tolerance=args.tolerance)
    except ExportError as error:
        raise UsageError(str(error)) from None
    _print_export(args.output, model, form, report)
    return 0


def _print_export(path, model, form, report):
    print(f'wrote {path}: AIDN x{model.upscale} ({form}), opset {report["opset"]}, '
          'dynamic axes batch/height/width')
    for (height, width), error in report['max_abs_error'].items():
        print(f'  onnxruntime vs PyTorch, input {width}x{height}: max abs error {error:.3g} '
              f'(tolerance {report["tolerance"]:g})')


def _calibration_images(specs):
    from aidn_plugin.inference import onnx_quantize
    try:
        files = onnx_quantize.collect_calibration(specs) if specs else onnx_quantize.default_calibration_images()
    except onnx_quantize.QuantizeError as error:
        raise UsageError(str(error)) from None
    return files


def _export_int8(model, args, calibration, form):
    """fp32 export to a temporary file, quantization into ``args.output``, Y-PSNR check on held-out images."""
    import tempfile

    from aidn_plugin.inference import onnx_quantize, ort_runtime
    from aidn_plugin.inference.onnx_export import ExportError, export_onnx
    calibrate, held_out = onnx_quantize.split_held_out(calibration)
    with tempfile.TemporaryDirectory() as work:
        fp32_path = os.path.join(work, 'fp32.onnx')
        try:
            report = export_onnx(model, fp32_path, opset=args.opset, tolerance=args.tolerance)
            info = onnx_quantize.quantize_int8(fp32_path, args.output, calibrate, model.upscale,
                                               method=args.calibration_method, fmt=args.int8_format,
                                               exclude=tuple(args.int8_exclude), weights=args.int8_weights)
            quality = onnx_quantize.measure_quality(ort_runtime.load(fp32_path), ort_runtime.load(args.output),
                                                    held_out, model.upscale)
        except (ExportError, onnx_quantize.QuantizeError) as error:
            raise UsageError(str(error)) from None
    print(f'wrote {args.output}: AIDN x{model.upscale} ({form}) int8 ({info["format"]}, per-channel '
          f'{info["weights"]} weights, uint8 activations, {info["method"]} calibration on {info["calibration_images"]} images), '
          f'opset {report["opset"]}, dynamic axes batch/height/width')
    source = 'held-out' if held_out is not calibrate else 'calibration'
    print(f'  Y-PSNR on {quality["images"]} {source} image(s) (x{model.upscale} bicubic LR of a centre crop): '
          f'fp32 {quality["fp32_db"]:.3f} dB, int8 {quality["int8_db"]:.3f} dB, '
          f'change {quality["change_db"]:+.3f} dB; int8 vs fp32 output {quality["int8_vs_fp32_db"]:.1f} dB')
    return 0
