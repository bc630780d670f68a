"""``aidn prepare subimages|lr|lmdb|edges|demo``: training data in BasicSR's layouts, and the demo set.

Every step shows a progress bar, builds its output in a hidden staging folder that is renamed into place
only when complete, and refuses an existing output unless ``--overwrite`` is given.
"""
from aidn_plugin.cli.errors import UsageError


def _positive(text):
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {text!r}') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {text!r}')
    return value


def _common(parser):
    parser.add_argument('--workers', type=_positive, default=None,
                        help='worker processes (default: the CPU count, at most 4)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing output')


def add_parser(sub):
    parser = sub.add_parser('prepare', help='sub-images, bicubic LR, LMDB, edge maps',
                            description='Prepare training data: sub-images, MATLAB-style bicubic LR, '
                                        'BasicSR LMDB, precomputed edge maps.')
    steps = parser.add_subparsers(dest='step', metavar='STEP')

    p = steps.add_parser('subimages', help='overlapping crops of large HR images (DIV2K recipe: 480 / 240)',
                         description='Crop every image of INPUT into overlapping squares {stem}_s001.png ... '
                                     'in OUTPUT, in several processes.')
    p.add_argument('input', help='folder of HR images')
    p.add_argument('-o', '--output', required=True, help='output folder (created)')
    p.add_argument('--crop-size', type=_positive, default=480, help='crop size in pixels; default 480')
    p.add_argument('--step', type=_positive, default=240, help='distance between crops; default 240')
    p.add_argument('--thresh-size', type=int, default=0,
                   help='add a last crop flush with the border when more than this many pixels remain; default 0')
    p.add_argument('--compress-level', type=int, default=3, choices=range(10), metavar='0..9',
                   help='PNG compression level; default 3')
    _common(p)
    p.set_defaults(run=run_subimages)

    p = steps.add_parser('lr', help='MATLAB-style bicubic LR: INPUT -> OUTPUT/X{scale}/',
                         description='Downscale every image of INPUT (cropped to a multiple of the scale) with '
                                     'MATLAB-style bicubic into OUTPUT/X{scale}/, as PNG.')
    p.add_argument('input', help='folder of HR images')
    p.add_argument('-o', '--output', required=True, help='output root, e.g. datasets/DIV2K/LR_bicubic')
    p.add_argument('--scale', type=_positive, nargs='+', default=[4], help='one or more scales; default 4')
    p.add_argument('--filename-tmpl', default='{}',
                   help="LR file name from the HR stem, e.g. '{}x4'; default '{}' (same name)")
    _common(p)
    p.set_defaults(run=run_lr)

    p = steps.add_parser('lmdb', help='an image folder to a BasicSR LMDB (+ meta_info.txt)',
                         description='Store every image of INPUT, PNG-encoded under its file stem, in the '
                                     'LMDB OUTPUT (name ending in .lmdb) with BasicSR\'s meta_info.txt.')
    p.add_argument('input', help='folder of images (HR, LR or edge maps)')
    p.add_argument('-o', '--output', required=True, help='output LMDB folder, e.g. DIV2K_train_HR_sub.lmdb')
    p.add_argument('--compress-level', type=int, default=1, choices=range(10), metavar='0..9',
                   help='PNG compression level; default 1 (fast to decode, BasicSR\'s default)')
    _common(p)
    p.set_defaults(run=run_lmdb)

    p = steps.add_parser('edges', help='precomputed edge maps of LR images (16-bit PNG)',
                         description='Write the edge map of every image of INPUT as a one-channel 16-bit PNG '
                                     '(value = round(edge * 65535)) in OUTPUT, for dataroot_edge.')
    p.add_argument('input', help='folder of LR images')
    p.add_argument('-o', '--output', required=True, help='output folder (created)')
    p.add_argument('--operator', default='sobel', help='sobel (default), scharr or laplacian')
    _common(p)
    p.set_defaults(run=run_edges)

    p = steps.add_parser('demo', help="the demo set from scikit-image's photographs (for train_AIDN_x4_demo)",
                         description="Write the small demo training and validation set, made from the photographs "
                                     "scikit-image ships, to OUTPUT (default datasets/demo, where "
                                     "options/train_AIDN_x4_demo.yml reads it).")
    p.add_argument('-o', '--output', default='datasets/demo', help='output folder; default datasets/demo')
    p.add_argument('--overwrite', action='store_true', help='replace an existing output')
    p.set_defaults(run=run_demo)

    parser.set_defaults(run=_missing_step, prepare_parser=parser)


def _missing_step(args):
    args.prepare_parser.print_help()
    raise UsageError('choose a step: subimages, lr, lmdb, edges or demo')


def _user_errors():
    from aidn_plugin.utils.meta_info import MetaInfoError
    from aidn_plugin.utils.image_io import ImageError
    from aidn_plugin.prepare import PrepareError
    return PrepareError, ImageError, MetaInfoError


# how the library's parameters are spelled on this command line
FLAGS = {'crop_size': '--crop-size', 'step': '--step', 'thresh_size': '--thresh-size',
         'compress_level': '--compress-level', 'scales': '--scale', 'filename_tmpl': '--filename-tmpl',
         'operator': '--operator', 'overwrite=True': '--overwrite'}


def _guarded(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except _user_errors() as error:
        message, parameter = str(error), getattr(error, 'parameter', None)
        if parameter in FLAGS:
            message = message.replace(parameter, FLAGS[parameter], 1)
        raise UsageError(message) from None


def run_subimages(args):
    from aidn_plugin.prepare.subimages import extract_subimages
    images, crops, skipped = _guarded(extract_subimages, args.input, args.output, args.crop_size, args.step,
                                      args.thresh_size, args.compress_level, args.workers, args.overwrite,
                                      progress=True)
    print(f'aidn prepare subimages: {crops} crops of {images - len(skipped)} images written to {args.output}')
    if skipped:
        print(f'aidn prepare subimages: skipped {len(skipped)} images smaller than {args.crop_size} pixels '
              f'(first: {skipped[0]})')
    return 0


def run_lr(args):
    from aidn_plugin.prepare.lr import make_lr
    folders = _guarded(make_lr, args.input, args.output, args.scale, args.filename_tmpl, args.workers, args.overwrite,
                       progress=True)
    print(f'aidn prepare lr: wrote {", ".join(folders)}')
    return 0


def run_lmdb(args):
    from aidn_plugin.prepare.lmdb_writer import make_lmdb
    count = _guarded(make_lmdb, args.input, args.output, args.compress_level, args.workers, args.overwrite,
                     progress=True)
    print(f'aidn prepare lmdb: {count} images written to {args.output}')
    return 0


def run_edges(args):
    from aidn_plugin.prepare.edge_maps import make_edges
    count = _guarded(make_edges, args.input, args.output, args.operator, args.workers, args.overwrite, progress=True)
    print(f'aidn prepare edges: {count} edge maps written to {args.output}')
    return 0


def run_demo(args):
    from aidn_plugin.prepare.demo_set import make_demo_set
    count = _guarded(make_demo_set, args.output, args.overwrite)
    print(f'aidn prepare demo: {count} images written to {args.output}')
    return 0
