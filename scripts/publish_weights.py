"""Turn a BasicSR checkpoint into a model-zoo file and its entry in the zoo table.

    python scripts/publish_weights.py experiments/AIDN_x4/models/net_g_500000.pth --name aidn_x4 \\
        --url-base https://github.com/OWNER/aidn-plugin/releases/download/v0.1.0 \\
        --train-data "DF2K 480x480 sub-images (LMDB)" --recipe "options/train_AIDN_x4.yml, 500k iters" \\
        --eval datasets --evidence benchmarks/zoo_eval/aidn_x4.json

What it does:
* reads the checkpoint safely (``weights_only=True``) and keeps ``params_ema`` when present, else
  ``params``, else the bare state dict; strips ``module.`` prefixes; stores float32 tensors;
* checks the weights load strictly into AIDN and records the architecture arguments (from the tensors,
  from ``--arch KEY=VALUE`` for what tensors cannot show, else AIDN's defaults) in the file under ``arch``;
* writes ``{'params': ..., 'arch': ...}`` to ``OUT_DIR/NAME-<sha256[:8]>.pth`` atomically (BasicSR's
  naming; BasicSR's ``load_network`` reads the file as it is);
* with ``--eval DIR``, measures Y-PSNR (border crop = scale, BasicSR's ``calculate_psnr``) on
  ``DIR/{Set5,Set14,B100}`` (``HR/`` and ``LR_bicubic/X{s}/{stem}x{s}.png``), with the fused network;
* adds the file's entry to ``OUT_DIR/published.json``, the zoo table (name, scale, the arguments that
  differ from AIDN's defaults, URL, sha256, data, recipe, Y-PSNR, license, notes, evidence), atomically.
"""
import argparse
import json
import os
import re
import sys

import torch
import yaml

import aidn_plugin  # noqa: F401  (compat layer before BasicSR)
from aidn_plugin.archs.aidn_spec import CheckpointError, model_from_state_dict, resolve_arch
from aidn_plugin.zoo.checkpoints import read_checkpoint, save_named_checkpoint

EVAL_SETS = ('Set5', 'Set14', 'B100')


def parse_arch(items):
    """``['act_type=gelu', 'rgb_mean=[0.5,0.5,0.5]']`` -> dict (values parsed as YAML scalars/lists)."""
    arch = {}
    for item in items or ():
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise SystemExit(f'--arch {item!r}: expected KEY=VALUE')
        arch[key.strip()] = yaml.safe_load(value)
    return arch


def parse_psnr(items):
    psnr = {}
    for item in items or ():
        key, sep, value = item.partition('=')
        try:
            psnr[key] = round(float(value), 2)
        except ValueError:
            raise SystemExit(f'--psnr {item!r}: expected SET=DB, e.g. Set5=32.18') from None
        if not sep:
            raise SystemExit(f'--psnr {item!r}: expected SET=DB, e.g. Set5=32.18')
    return psnr


def evaluate(model, root, scale):
    """Mean Y-PSNR per benchmark set found under ``root``."""
    from basicsr.metrics import calculate_psnr

    from aidn_plugin.utils.image_files import read_image
    from aidn_plugin.utils.image_io import list_images
    from aidn_plugin.inference.tiling import upscale_image
    results = {}
    for name in EVAL_SETS:
        hr_dir = os.path.join(root, name, 'HR')
        lr_dir = os.path.join(root, name, 'LR_bicubic', f'X{scale}')
        if not (os.path.isdir(hr_dir) and os.path.isdir(lr_dir)):
            continue
        scores = []
        for file in list_images(hr_dir):
            stem, ext = os.path.splitext(file)
            hr = read_image(os.path.join(hr_dir, file))
            lr = read_image(os.path.join(lr_dir, f'{stem}x{scale}{ext}'))
            sr = upscale_image(model, lr)
            hr = hr[:sr.shape[0], :sr.shape[1]]
            scores.append(calculate_psnr(sr, hr, crop_border=scale, test_y_channel=True))
        results[name] = round(float(sum(scores) / len(scores)), 2)
        print(f'  {name}: {results[name]:.2f} dB Y-PSNR ({len(scores)} images)', file=sys.stderr)
    return results


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def add_to_table(table_path, entry):
    """Add ``entry`` to the zoo table ``table_path`` (replacing an entry of the same name), atomically."""
    from aidn_plugin.utils.atomic import write_text
    from aidn_plugin.zoo.registry import ZooEntry
    ZooEntry(**entry)  # the same checks the zoo makes when it loads the table
    table = {'weights': []}
    if os.path.isfile(table_path):
        with open(table_path, encoding='utf-8') as handle:
            table = json.load(handle)
    table['weights'] = [row for row in table['weights'] if row['name'] != entry['name']] + [entry]
    write_text(table_path, json.dumps(table, indent=2, ensure_ascii=False) + '\n')


def publish(checkpoint, name, out_dir, url_base='https://example.invalid/REPLACE-ME', arch_hints=None,
            train_data='TODO', recipe='TODO', license='Apache-2.0', psnr=None, notes='', evidence='',
            eval_root=None):
    """The script's work as a function: the zoo file
    ``out_dir/NAME-<sha8>.pth`` of ``checkpoint`` and its entry in ``out_dir/published.json``.

    ``arch_hints``: AIDN arguments the tensors cannot show; ``psnr``: {set: dB}, completed by the
    measurement on ``eval_root`` when given; the other arguments are the entry's fields (see ``--help``).
    Returns (path, sha256, entry). Raises CheckpointError (unreadable checkpoint, not AIDN) and SystemExit
    (a bad ``name``), each one line.
    """
    if not re.fullmatch(r'[a-z0-9][a-z0-9_.]*', name):
        raise SystemExit(f'--name {name!r}: use lowercase letters, digits, "_" and "."')
    state_dict, stored = read_checkpoint(checkpoint)
    hints = dict(arch_hints or {})
    model = model_from_state_dict(state_dict, stored, hints, checkpoint)
    arch = resolve_arch(state_dict, stored, hints, checkpoint)
    arch.pop('deploy')  # a property of the tensors, not of the network
    arch['rgb_mean'] = [float(v) for v in arch['rgb_mean']]
    clean = {key: value.detach().to(torch.float32).contiguous().clone() for key, value in state_dict.items()}

    psnr = dict(psnr or {})
    if eval_root:
        print(f'evaluating on {eval_root} ...', file=sys.stderr)
        psnr.update(evaluate(model.fuse(), eval_root, arch['upscale']))

    path, sha256 = save_named_checkpoint(out_dir, name, clean, arch)
    filename = os.path.basename(path)
    defaults = resolve_arch(state_dict)  # what AIDN's defaults give for these tensors
    overrides = {key: value for key, value in arch.items()
                 if key == 'upscale' or _plain(value) != _plain(defaults.get(key))}
    entry = {'name': name, 'scale': arch['upscale'], 'arch': overrides, 'filename': filename,
             'url': f'{url_base.rstrip("/")}/{filename}', 'sha256': sha256, 'train_data': train_data,
             'recipe': recipe, 'psnr': psnr, 'license': license, 'notes': notes, 'evidence': evidence}
    add_to_table(os.path.join(out_dir, 'published.json'), entry)
    return path, sha256, entry


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('checkpoint', help='BasicSR checkpoint (net_g_*.pth), bare state dict or .safetensors')
    parser.add_argument('--name', required=True, help='zoo name, e.g. aidn_x4')
    parser.add_argument('--out-dir', default=os.path.join('aidn_plugin', 'zoo', 'weights'),
                        help='where to write the file; default aidn_plugin/zoo/weights (shipped in the wheel)')
    parser.add_argument('--url-base', default='https://example.invalid/REPLACE-ME',
                        help='download folder URL; the entry URL is URL_BASE/FILENAME')
    parser.add_argument('--arch', nargs='*', metavar='KEY=VALUE',
                        help='AIDN arguments the tensors cannot show (act_type, edge_operator, attention, ...)')
    parser.add_argument('--train-data', default='TODO', help='training data, for the entry')
    parser.add_argument('--recipe', default='TODO', help='training recipe, for the entry')
    parser.add_argument('--license', default='Apache-2.0', help='license of the weights; default Apache-2.0')
    parser.add_argument('--psnr', nargs='*', metavar='SET=DB', help='measured Y-PSNR, e.g. Set5=32.18')
    parser.add_argument('--eval', metavar='DIR', help='measure Y-PSNR on DIR/{Set5,Set14,B100} instead')
    parser.add_argument('--notes', default='', help='anything else a user should know, for the entry')
    parser.add_argument('--evidence', default='', help='the committed JSON/log behind --psnr, for the entry')
    args = parser.parse_args(argv)

    try:
        path, sha256, _ = publish(args.checkpoint, args.name, args.out_dir, url_base=args.url_base,
                                  arch_hints=parse_arch(args.arch), train_data=args.train_data, recipe=args.recipe,
                                  license=args.license, psnr=parse_psnr(args.psnr), notes=args.notes,
                                  evidence=args.evidence, eval_root=args.eval)
    except CheckpointError as error:
        raise SystemExit(f'publish_weights: error: {error}') from None
    table = os.path.join(args.out_dir, 'published.json')
    print(f'wrote {path}\nsha256 {sha256}\nentry {args.name} written to {table}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
