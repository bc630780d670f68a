"""Pack the GPU sprint's images losslessly into one folder small enough to travel to a lent GPU machine.

    python scripts/pack_training_data.py            # shared/datasets beside the checkout -> sprint_data/
    python scripts/pack_training_data.py --check    # decode sprint_data/ again and compare with the sources

Every image under ``<source>/train`` and ``<set>/HR``, ``<set>/LR_bicubic/X<scale>`` of each ``--sets``, same
relative paths: 8-bit three-channel images as lossless WebP, any other as PNG (an HR image and its LR keep one
extension). Each file is decoded and compared with its source, pixel for pixel; one difference and nothing is
kept (the folder is built aside, ``staged_folder``). ``manifest.json`` lists every file (source, sha256 of both,
bytes, shape); ``scripts/gpu_sprint.py`` checks against it. Printed: the folder's size and what a device call
carries (tracked and untracked-not-ignored files, ``--wheels``, this folder) against the 64 MiB limit.

Options: ``--source`` (``shared/datasets`` beside the repository's folder), ``--out`` (``sprint_data``), ``--sets``
(Set5 Set14), ``--scale`` (4), ``--wheels`` (``wheels``, only counted), ``--overwrite`` (replace ``--out``),
``--check`` (write nothing: compare every file of ``--out`` with its manifest entry and its source's pixels).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 2 ** 20
MANIFEST = 'manifest.json'
EXTENSIONS = ('.png', '.bmp', '.tif', '.tiff', '.webp', '.ppm')  # lossless sources only


class PackError(Exception):
    """A bad source, a failed check: one line."""


def _read(path):
    """(bytes, decoded image) of the file ``path``."""
    import cv2
    import numpy as np
    data = open(path, 'rb').read()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise PackError(f'{path}: not a readable image')
    return data, image


def pack(source, out, sets, scale, overwrite=False):
    """Write the packed folder ``out`` from ``source``; returns its manifest."""
    import cv2
    import numpy as np

    from aidn_plugin.utils.atomic import staged_folder, write_bytes, write_text
    names = []
    for folder in ['train'] + [os.path.join(s, sub) for s in sets for sub in ('HR', f'LR_bicubic/X{scale}')]:
        if not os.path.isdir(os.path.join(source, folder)):
            raise PackError(f'--source {source}: {folder} not found')
        for dirpath, dirnames, filenames in os.walk(os.path.join(source, folder)):
            dirnames.sort()
            names += [os.path.relpath(os.path.join(dirpath, f), source) for f in sorted(filenames)
                      if f.lower().endswith(EXTENSIONS) and not f.startswith('.')]
    files = []
    with staged_folder(out, overwrite=overwrite) as staging:
        for name in names:
            data, image = _read(os.path.join(source, name))
            webp = image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            ext, params = (('.webp', [cv2.IMWRITE_WEBP_QUALITY, 101]) if webp else
                           ('.png', [cv2.IMWRITE_PNG_COMPRESSION, 9]))
            packed = cv2.imencode(ext, image, params)[1].tobytes()
            target = os.path.join(staging, os.path.splitext(name)[0] + ext)
            write_bytes(target, packed)
            if not np.array_equal(_read(target)[1], image):  # shape, dtype, every pixel
                raise PackError(f'{os.path.join(source, name)}: its {ext} copy decodes to other pixels')
            files.append({'path': os.path.relpath(target, staging).replace(os.sep, '/'), 'bytes': len(packed),
                          'sha256': hashlib.sha256(packed).hexdigest(), 'source': name.replace(os.sep, '/'),
                          'source_sha256': hashlib.sha256(data).hexdigest(), 'shape': list(image.shape)})
        manifest = {'source': os.path.abspath(source), 'images': len(files),
                    'source_bytes': sum(os.path.getsize(os.path.join(source, f['source'])) for f in files),
                    'packed_bytes': sum(f['bytes'] for f in files),
                    'check': 'every file decoded (cv2.IMREAD_UNCHANGED) equals its source, pixel for pixel',
                    'files': files}
        write_text(os.path.join(staging, MANIFEST), json.dumps(manifest, indent=1) + '\n')
    return manifest


def verify(folder, source=None):
    """Check every file of the packed ``folder`` against its manifest (sha256) and, given ``source``, its
    pixels against the source's. Returns the manifest; PackError on the first difference."""
    import numpy as np
    try:
        manifest = json.load(open(os.path.join(folder, MANIFEST), encoding='utf-8'))
    except (OSError, ValueError) as error:
        raise PackError(f'{os.path.join(folder, MANIFEST)}: no packed folder\'s manifest ({type(error).__name__}); '
                        'run python scripts/pack_training_data.py') from None
    for entry in manifest['files']:
        path = os.path.join(folder, entry['path'])
        if not os.path.isfile(path) or hashlib.sha256(open(path, 'rb').read()).hexdigest() != entry['sha256']:
            raise PackError(f'{path}: missing, or its sha256 differs from {MANIFEST}')
        if source and not np.array_equal(_read(path)[1], _read(os.path.join(source, entry['source']))[1]):
            raise PackError(f'{path}: pixels differ from {os.path.join(source, entry["source"])}')
    return manifest


def carried_bytes(*folders):
    """Bytes a device call sends: tracked and untracked-not-ignored files of the repository, and ``folders``."""
    listed = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split('\0')
    tree = sum(os.lstat(os.path.join(ROOT, p)).st_size for p in listed if p and os.path.lexists(os.path.join(ROOT, p)))
    return [tree] + [sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)
                     for folder in folders]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--source', default=os.path.join(os.path.dirname(ROOT), 'shared', 'datasets'))
    parser.add_argument('--out', default=os.path.join(ROOT, 'sprint_data'))
    parser.add_argument('--sets', nargs='+', default=['Set5', 'Set14'])
    parser.add_argument('--scale', type=int, default=4)
    parser.add_argument('--wheels', default=os.path.join(ROOT, 'wheels'))
    parser.add_argument('--overwrite', action='store_true')
    parser.add_argument('--check', action='store_true')
    args = parser.parse_args(argv)
    sys.path.insert(0, ROOT)
    from aidn_plugin.utils.atomic import OutputExistsError
    try:
        manifest = (verify(args.out, args.source) if args.check else
                    pack(args.source, args.out, args.sets, args.scale, args.overwrite))
    except (PackError, OutputExistsError, OSError) as error:
        raise SystemExit(f'pack_training_data: error: {error}') from None
    tree, wheels, size = carried_bytes(args.wheels, args.out)
    left = 64 * MIB - tree - wheels - size
    print(f'{args.out}: {size / MIB:.1f} MiB ({size:,} bytes), {manifest["images"]} images and {MANIFEST} (sources '
          f'{manifest["source_bytes"] / MIB:.1f} MiB); every image decodes to its source\'s pixels')
    print(f'a device call carries the working tree {tree / MIB:.1f} MiB + wheels {wheels / MIB:.1f} MiB + this = '
          f'{(tree + wheels + size) / MIB:.1f} MiB of 64 MiB: {left / MIB:.1f} MiB left')
    return 0 if left >= 0 else 1


if __name__ == '__main__':
    raise SystemExit(main())
