"""``aidn export onnx -m NAME | --weights PATH -o OUT.onnx``: ONNX with dynamic H/W, checked against
onnxruntime (needs the ``onnx`` extra: ``pip install "aidn-plugin[onnx]"``)."""
import os

from aidn_plugin.cli.errors import UsageError
from aidn_plugin.cli.model_options import add_model_arguments, load_model_from_args
from aidn_plugin.inference.onnx_export import DEFAULT_OPSET, DEFAULT_TOLERANCE


def add_parser(sub):
    parser = sub.add_parser('export', help='export a model (onnx)', description='Export AIDN to other runtimes.')
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
    parser.set_defaults(run=run)


def run(args):
    try:
        from aidn_plugin.inference.onnx_export import ExportError, export_onnx
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise UsageError(f'ONNX export needs the onnx extra ({error.name} is missing): '
                         'pip install "aidn-plugin[onnx]"') from None
    if os.path.exists(args.output) and not args.force:
        raise UsageError(f'{args.output} exists (use --force to overwrite)')
    if os.path.isdir(args.output):
        raise UsageError(f'-o {args.output}: is a folder; give a file name such as aidn_x4.onnx')
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise UsageError(f'-o {args.output}: folder {folder} does not exist')
    model = load_model_from_args(args, fuse=not args.unfused, device='cpu')
    try:
        report = export_onnx(model, args.output, opset=args.opset, tolerance=args.tolerance)
    except ExportError as error:
        raise UsageError(str(error)) from None
    form = 'unfused' if args.unfused else 'fused'
    print(f'wrote {args.output}: AIDN x{model.upscale} ({form}), opset {report["opset"]}, '
          'dynamic axes batch/height/width')
    for (height, width), error in report['max_abs_error'].items():
        print(f'  onnxruntime vs PyTorch, input {width}x{height}: max abs error {error:.3g} '
              f'(tolerance {report["tolerance"]:g})')
    return 0
