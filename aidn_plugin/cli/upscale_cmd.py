"""``aidn upscale INPUT... -o OUT``: super-resolve image files with zoo or local weights, tile by tile.

Inputs are files, folders (their images) and glob patterns. ``-o`` is a folder (created when missing;
outputs keep the input file names, ``--ext`` changes the format), or a file name with an image extension
when there is exactly one input. A GIF (256 colours at most) is written as PNG, and the line says so.
Existing outputs are kept unless ``--force``.

Before any work every input is checked (:mod:`aidn_plugin.cli.upscale_checks`): its header's declared size
against the decoder's limits, its frame count (animations and multi-page files are refused), what the
output format can hold, and the memory it needs against ``--max-memory``. PNG and TIFF outputs are
written row by row as the tiles finish, so their memory does not grow with the image's height; other
formats are assembled whole. Every input is tried: a missing, unreadable, refused or non-image input is
reported on one line, the others are still written. Exit codes: 0 all written; 1 one input or more failed
(each named on its own line); 2 a usage error (bad option, no input at all), nothing written.

``--backend onnxruntime`` runs the model in ONNX Runtime on the CPU through the same tiling (exported to a
temporary file first), and ``--onnx FILE`` runs a file of ``aidn export onnx`` (fp32 or ``--int8``) there
(:mod:`aidn_plugin.inference.ort_runtime`); ``--backend openvino`` runs it in OpenVINO, fp32 or bf16,
converted in memory (or ``--onnx FILE``, also the ``.xml`` of ``aidn export openvino``)
(:mod:`aidn_plugin.inference.ov_runtime`). ``--precision auto`` (the default) runs bf16 on a CPU with
native bf16 for zoo weights measured to lose at most 0.02 dB in it, fp32 elsewhere
(:mod:`aidn_plugin.inference.precision`); a line says which backend and precision ran and why. Details:
docs/inference.md, docs/large-images.md.
"""
import os
import sys
import time

from aidn_plugin.cli.errors import UsageError
from aidn_plugin.cli.model_options import add_model_arguments, load_model_from_args
from aidn_plugin.inference.precision import PRECISIONS
from aidn_plugin.inference.tile_plan import DEFAULT_OVERLAP, DEFAULT_TILE

PROG = 'aidn upscale'
BACKENDS = ('torch', 'onnxruntime', 'openvino')


def add_parser(sub):
    parser = sub.add_parser('upscale', help='upscale images (files, folders, globs), tiled',
                            description='Upscale images with AIDN. Large images are processed in tiles and PNG / '
                            'TIFF outputs are written row by row, so memory does not grow with the image height. '
                            'Every input is checked first (declared size, frames, memory); a refused or bad input '
                            'is named on one line and the others are still written. Exit code 0: all written; '
                            '1: some input failed; 2: usage error.')
    parser.add_argument('inputs', nargs='+', metavar='INPUT', help='image files, folders or glob patterns')
    parser.add_argument('-o', '--output', required=True, metavar='OUT',
                        help='output folder (created if missing), or an output file for a single input')
    add_model_arguments(parser, required=False)  # or --onnx FILE; run() checks that one is given
    parser.add_argument('--scale', type=int, default=None, metavar='N',
                        help='expected upscale factor; a model of another scale is refused')
    parser.add_argument('--tile', type=int, default=DEFAULT_TILE, metavar='PX',
                        help=f'largest LR tile side in pixels, 0 = whole image at once; default {DEFAULT_TILE}')
    parser.add_argument('--tile-overlap', type=int, default=DEFAULT_OVERLAP, metavar='PX',
                        help=f'LR pixels of context around each tile (discarded); default {DEFAULT_OVERLAP}')
    parser.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default='auto',
                        help='auto (CUDA when available, else CPU), cpu or cuda; default auto')
    parser.add_argument('--precision', choices=PRECISIONS, default=None,
                        help='auto (default: bf16 on a CPU with AVX-512 BF16 or AMX for zoo weights measured to '
                        'lose at most 0.02 dB in it, fp32 elsewhere and on GPUs), fp32, fp16 (CUDA only) or bf16 '
                        '(slow on CPUs without bf16 instructions; torch: convolutions under torch.autocast, the '
                        'edge map, attention statistics, softmax and bicubic base in fp32)')
    parser.add_argument('--half', action='store_true', help='the same as --precision fp16 (CUDA only)')
    parser.add_argument('--unfused', action='store_true',
                        help='run the training form instead of the fused deploy form (same output, slower)')
    parser.add_argument('--backend', choices=BACKENDS, default=None,
                        help='torch (default), onnxruntime or openvino (CPU; onnxruntime runs the model exported to a '
                        'temporary ONNX file, openvino converts it in memory; --onnx FILE runs a file of "aidn '
                        'export onnx" instead; onnxruntime also runs its --int8 files, openvino runs fp32 or bf16)')
    parser.add_argument('--onnx', metavar='FILE', default=None,
                        help='run this exported file instead of -m/--weights: an ONNX file of "aidn export onnx" '
                        '(in onnxruntime, or with --backend openvino in OpenVINO), or an OpenVINO IR .xml of "aidn '
                        'export openvino" (in OpenVINO)')
    parser.add_argument('--ext', default=None, metavar='EXT',
                        help='output format for folder output, e.g. png (default: the input\'s; GIF inputs are '
                        'written as PNG)')
    parser.add_argument('--max-memory', type=_size, default=None, metavar='SIZE',
                        help='refuse, before any work, an image that would hold more than SIZE (e.g. 512M, 4G) '
                        'while upscaled: its decoded input plus a few rows of output (PNG, TIFF: written row by '
                        'row) or the whole output (other formats); default: the memory available at the start')
    parser.add_argument('--force', action='store_true', help='overwrite existing output files')
    parser.add_argument('-q', '--quiet', action='store_true', help='no progress bar and no per-file lines')
    parser.set_defaults(run=run)


def _size(text):
    import argparse

    from aidn_plugin.utils.memory import parse_size
    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def pick_device(name, half):
    """``auto`` / ``cpu`` / ``cuda`` -> a device string; refuses cuda without CUDA and ``--half`` on CPU."""
    import torch
    cuda = torch.cuda.is_available()
    if name == 'cuda' and not cuda:
        raise UsageError('--device cuda: no CUDA device is available (torch.cuda.is_available() is False)')
    device = 'cuda' if name == 'cuda' or (name == 'auto' and cuda) else 'cpu'
    if half and device != 'cuda':
        raise UsageError(f'--half needs a CUDA device, but the device is {device}: fp16 on the CPU is slow and '
                         'less accurate; leave --half out there')
    return device


def pick_precision(args, backend, device):
    """``--precision`` / ``--half`` -> (precision, reason): ``auto`` decided by the CPU and the zoo entry's
    measured bf16 change on ``backend``; fp16 off CUDA and bf16 on OpenVINO without native bf16 refused."""
    from aidn_plugin.inference import precision
    if args.half and args.precision not in (None, 'fp16'):
        raise UsageError(f'--half means --precision fp16; it contradicts --precision {args.precision}')
    if backend == 'onnxruntime':
        return 'file', 'onnxruntime runs its file\'s precision (fp32, or int8 from "aidn export onnx --int8")'
    measured = None
    if args.model is not None:
        from aidn_plugin import zoo
        if args.model in zoo.ZOO:
            measured = zoo.ZOO[args.model].bf16_psnr_change.get(backend)
    try:
        return precision.choose('fp16' if args.half else args.precision, device, backend, measured)
    except precision.PrecisionError as error:
        raise UsageError(f'--precision {error}') from None


def pick_backend(args):
    """``--backend`` / ``--onnx`` -> ``torch``, ``onnxruntime`` or ``openvino``; checks that exactly one model
    source is given and refuses torch-only options with the CPU runtimes."""
    sources = [flag for flag, value in (('-m/--model', args.model), ('--weights', args.weights),
                                        ('--onnx', args.onnx)) if value is not None]
    if not sources:
        raise UsageError('a model is needed: -m/--model NAME, --weights PATH or --onnx FILE')
    if len(sources) > 1:
        raise UsageError(f'{sources[0]} and {sources[1]} both name the model; give one of them')
    # an OpenVINO IR file (aidn export openvino) runs in OpenVINO, an ONNX file in ONNX Runtime unless told
    backend = args.backend or ('torch' if args.onnx is None else
                               'openvino' if args.onnx.lower().endswith('.xml') else 'onnxruntime')
    if backend == 'torch' and args.onnx:
        raise UsageError('--onnx FILE runs in onnxruntime or openvino; leave out --backend torch, or give '
                         '-m/--weights')
    if backend != 'torch':
        reduced = args.precision not in (None, 'auto', 'fp32') and backend == 'onnxruntime'
        torch_only = [flag for flag, given in (('--device ' + args.device, args.device == 'cuda'),
                                               ('--half', args.half),
                                               ('--precision ' + str(args.precision), reduced),
                                               ('--unfused', args.unfused)) if given]
        if torch_only:
            what = ('onnxruntime runs on the CPU, in the precision of its file (fp32, or int8 from "aidn export onnx '
                    '--int8")' if backend == 'onnxruntime' else 'openvino runs on the CPU, in fp32 or bf16')
            raise UsageError(f'{torch_only[0]} applies to --backend torch only; {what}')
    return backend


RUNTIME_EXTRAS = {'onnxruntime': ('onnxruntime', 'onnx'), 'openvino': ('openvino', 'openvino')}


def load_runtime_model(args, backend, precision):
    """The ONNX Runtime or OpenVINO model of ``--onnx FILE``, or of -m/--weights: exported to a temporary
    ONNX file for ONNX Runtime, converted in memory for OpenVINO (in ``precision``)."""
    from aidn_plugin.inference import ort_runtime, ov_runtime
    module, extra = RUNTIME_EXTRAS[backend]
    try:
        __import__(module)
        if args.onnx is None and backend == 'onnxruntime':
            import onnx  # noqa: F401 (the exporter needs it)
    except ImportError as error:
        raise UsageError(f'--backend {backend} needs the {extra} extra ({error.name} is missing): '
                         f'pip install "aidn-plugin[{extra}]"') from None

    def load(path):
        return ort_runtime.load(path) if backend == 'onnxruntime' else ov_runtime.load(path, precision=precision)

    try:
        if args.onnx is not None:
            model = load(args.onnx)
        elif backend == 'openvino':
            model = _convert_for_openvino(args, precision)
        else:
            model = _export_and_load(args, backend, load)
    except (ort_runtime.OrtModelError, ov_runtime.OvModelError) as error:
        raise UsageError(f'--onnx {args.onnx}: {error}' if args.onnx else str(error)) from None
    if args.scale is not None and model.upscale != args.scale:
        raise UsageError(f'--onnx {args.onnx}: the model is x{model.upscale}, but --scale {args.scale} was given')
    return model


def _convert_for_openvino(args, precision):
    """-m/--weights converted in memory (openvino.convert_model's graph runs faster than the ONNX file's and
    needs no onnx package)."""
    from aidn_plugin.inference import ov_runtime
    torch_model = load_model_from_args(args, fuse=True, device='cpu', scale=args.scale, progress=not args.quiet)
    start = time.perf_counter()
    model = ov_runtime.convert(torch_model, precision=precision)
    if not args.quiet:
        print(f'converted the model for openvino ({time.perf_counter() - start:.1f} s; '
              '"aidn export openvino" once and --onnx FILE.xml skip this)')
    return model


def _export_and_load(args, backend, load):
    import tempfile

    from aidn_plugin.inference.onnx_export import ExportError, export_onnx
    torch_model = load_model_from_args(args, fuse=True, device='cpu', scale=args.scale, progress=not args.quiet)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, 'model.onnx')
        try:
            export_onnx(torch_model, path)
        except ExportError as error:
            raise UsageError(str(error)) from None
        model = load(path)  # the session / compiled model holds the graph; the file can go
    if not args.quiet:
        print(f'exported the model to ONNX for {backend} ({time.perf_counter() - start:.1f} s; '
              '"aidn export onnx" once and --onnx FILE skip this)')
    return model


def plan_outputs(files, output, ext):
    """Map each input to its output path. Returns (pairs, errors, notes): (input, output) pairs, one message
    per input that cannot have an output, and a note per output whose format differs from its input's
    (a GIF written as PNG)."""
    from aidn_plugin.utils.image_files import IMAGE_EXTENSIONS, PALETTE_EXTENSIONS, is_image_name, output_extension
    if ext is not None:
        ext = ext.lower() if ext.startswith('.') else '.' + ext.lower()
        if ext not in IMAGE_EXTENSIONS:
            raise UsageError(f'--ext {ext}: expected one of {", ".join(IMAGE_EXTENSIONS)}')
    if os.path.splitext(output)[1].lower() in PALETTE_EXTENSIONS and not os.path.isdir(output):
        raise UsageError(f'-o {output}: GIF holds at most 256 colours, too few for an upscaled image; name a '
                         '.png or .tif file')
    if is_image_name(output) and not os.path.isdir(output):
        if len(files) != 1:
            raise UsageError(f'-o {output}: an output file name takes exactly one input, got {len(files)}; '
                             'give a folder for several')
        if ext is not None:
            raise UsageError('--ext applies to folder output only; name the output file with its extension')
        return [(files[0], output)], [], {}
    if os.path.exists(output) and not os.path.isdir(output):
        raise UsageError(f'-o {output}: exists and is not a folder')
    pairs, errors, claimed, notes = [], [], {}, {}
    for path in files:
        stem = os.path.splitext(os.path.basename(path))[0]
        own_ext, note = output_extension(path)
        target = os.path.join(output, stem + (ext or own_ext))
        if target in claimed:
            errors.append(f'{path}: would write {target}, the output of {claimed[target]}; rename one of them')
            continue
        claimed[target] = path
        pairs.append((path, target))
        if note and not ext:
            notes[target] = note
    return pairs, errors, notes


def _upscale_one(model, source, target, args, show_progress):
    from tqdm import tqdm

    from aidn_plugin.utils.image_files import read_image, write_strips
    from aidn_plugin.inference.tiling import tile_count, upscale_rows
    if os.path.exists(target):
        if not args.force:
            raise ValueError(f'{target} exists (use --force to overwrite)')
        if os.path.samefile(source, target):
            raise ValueError(f'output {target} is the input file itself; choose another -o')
    image = read_image(source)
    height, width = image.shape[:2]
    scale = model.upscale
    start = time.perf_counter()
    # the bar appears for an image that takes more than 2 s, on a terminal
    with tqdm(total=tile_count(height, width, args.tile, args.tile_overlap), unit='tile', leave=False, delay=2,
              desc=os.path.basename(source), disable=None if show_progress else True) as bar:
        with _autocast(args.autocast, next(model.parameters()).device.type):
            # rows are encoded as each row of tiles finishes (PNG, TIFF), into a temporary file renamed
            # into place at the end: an error or an interruption leaves no partial output
            strips = upscale_rows(model, image, args.tile, args.tile_overlap, progress=bar.update)
            write_strips(target, strips, width * scale, height * scale, image.shape[2] if image.ndim == 3 else 1,
                         image.dtype)
    return width, height, time.perf_counter() - start


def _checked(pairs, check, failed):
    """The pairs ``check(source, target)`` passes; a one-line error for each other one. Returns (kept, failed)."""
    kept = []
    for source, target in pairs:
        try:
            check(source, target)
        except ValueError as error:  # ImageError is one
            _report(source, target, error)
            failed += 1
            continue
        kept.append((source, target))
    return kept, failed


def _report(source, target, error):
    message = ' '.join(str(error).split())
    if 'out of memory' in message:
        message += ' (try a smaller --tile)'
    prefix = '' if message.startswith(source) or message.startswith(target) else f'{source}: '
    print(f'{PROG}: error: {prefix}{message}', file=sys.stderr)


def _autocast(precision, device_type):
    # autocast, not model.half(): the weights stay fp32 and so do the ops autocast keeps in fp32, the
    # bicubic base and what the network computes in fp32 itself (measured on the CPU: 65 dB Y-PSNR to fp32
    # in bf16 under autocast, 56 dB with the whole network cast to bf16)
    from aidn_plugin.utils import amp
    return amp.autocast({'fp32': 'none'}.get(precision, precision), device_type)


def run(args):
    from aidn_plugin.cli import upscale_checks
    from aidn_plugin.utils.image_files import collect_inputs
    from aidn_plugin.utils.memory import available_bytes, format_bytes
    from aidn_plugin.inference.tile_plan import check_tiling
    try:
        check_tiling(args.tile, args.tile_overlap)
    except ValueError as error:
        raise UsageError(f'--tile / --tile-overlap: {error}') from None
    backend = pick_backend(args)
    device = 'cpu' if backend != 'torch' else pick_device(args.device, args.half)
    args.precision, why = pick_precision(args, backend, device)
    args.autocast = args.precision if backend == 'torch' else 'fp32'  # the runtimes take their precision at load

    files, errors = collect_inputs(args.inputs)
    for message in errors:
        print(f'{PROG}: error: {message}', file=sys.stderr)
    if not files:
        raise UsageError('no input images to upscale')
    pairs, plan_errors, notes = plan_outputs(files, args.output, args.ext)
    for message in plan_errors:
        print(f'{PROG}: error: {message}', file=sys.stderr)
    failed = len(errors) + len(plan_errors)

    # check before work: every header (declared size, frames), before the model is even loaded
    headers = {}

    def check_input(source, _):
        headers[source] = upscale_checks.check_input(source)

    pairs, failed = _checked(pairs, check_input, failed)
    written = 0
    if pairs:
        if backend != 'torch':
            model = load_runtime_model(args, backend, args.precision)
        else:
            model = load_model_from_args(args, fuse=not args.unfused, device=device, scale=args.scale,
                                         progress=not args.quiet)
        if not args.quiet:
            print(f'{PROG}: {backend} on {device}, ' + (f'precision {args.precision} ({why})'
                                                        if backend != 'onnxruntime' else why))
        scale = model.upscale
        limit = args.max_memory if args.max_memory is not None else available_bytes()
        flag_text = (f'--max-memory {format_bytes(limit)}' if args.max_memory is not None
                     else f'the {format_bytes(limit or 0)} available (--max-memory)')

        def check_output(source, target):
            upscale_checks.check_output(target, headers[source], scale)
            upscale_checks.check_memory(source, target, headers[source], scale, args.tile, args.tile_overlap,
                                        limit, flag_text)

        pairs, failed = _checked(pairs, check_output, failed)
    for source, target in pairs:
        try:
            width, height, seconds = _upscale_one(model, source, target, args, not args.quiet)
        except (ValueError, OSError, RuntimeError, MemoryError) as error:  # one bad input must not stop the others
            _report(source, target, error)
            failed += 1
            continue
        written += 1
        if not args.quiet:
            note = f'; {notes[target]}' if target in notes else ''
            print(f'{source} -> {target} ({width}x{height} -> {width * scale}x{height * scale}, {seconds:.1f} s{note})')
    if failed:
        print(f'{PROG}: {written} written, {failed} failed', file=sys.stderr)
        return 1
    return 0
