"""Turn a BasicSR checkpoint into a model-zoo file and its entry in the zoo table.

    python scripts/publish_weights.py experiments/AIDN_x4/models/net_g_500000.pth --name aidn_x4 \\
        --url-base https://github.com/OWNER/aidn-plugin/releases/download/v0.1.0 \\
        --train-data "DF2K 480x480 sub-images (LMDB)" --recipe "options/train_AIDN_x4.yml, 500k iters" \\
        --eval datasets --evidence benchmarks/zoo_eval/aidn_x4.json

It reads the checkpoint safely (``weights_only=True``), keeps ``params_ema`` (else ``params``, else the bare
state dict) as float32 without ``module.``, checks that it loads strictly into AIDN, records the architecture
(tensors, then ``--arch KEY=VALUE``, then AIDN's defaults) under ``arch``, and writes
``OUT_DIR/NAME-<sha256[:8]>.pth`` atomically (BasicSR's naming; ``load_network`` reads it as it is). With
``--eval DIR`` it measures the file's Y-PSNR on ``DIR/{Set5,Set14,B100}`` by the zoo's evaluation
(``scripts.bench.zoo_eval``: ``basicsr test``, border = scale). Then it adds the entry to
``OUT_DIR/published.json`` (name, scale, arguments that differ from the defaults, URL, sha256, data, recipe,
Y-PSNR, license, notes, evidence), atomically. Options: ``--name`` (required), ``--out-dir``
(aidn_plugin/zoo/weights), ``--url-base``, ``--arch KEY=VALUE ...``, ``--train-data``, ``--recipe``, ``--license``
(Apache-2.0), ``--psnr SET=DB ...``, ``--eval DIR``, ``--notes``, ``--evidence``.
"""
import argparse
import json
import os
import re
import sys

import torch
import yaml

import aidn_plugin  # noqa: F401  (compat layer before BasicSR)
from aidn_plugin.archs.aidn_spec import ARCH_DEFAULTS, CheckpointError, model_from_state_dict, resolve_arch
from aidn_plugin.zoo.checkpoints import read_checkpoint, save_named_checkpoint

def parse_pairs(items, flag, convert, expected):
    """``['KEY=VALUE', ...]`` -> {key: convert(value)}; a malformed item is one line naming ``flag``."""
    pairs = {}
    for item in items or ():
        key, sep, value = item.partition('=')
        try:
            if not (sep and key.strip()):
                raise ValueError(item)
            pairs[key.strip()] = convert(value)
        except (ValueError, yaml.YAMLError):
            raise SystemExit(f'{flag} {item!r}: expected {expected}') from None
    return pairs


def evaluate(state_dict, arch, name, root):
    """Mean Y-PSNR per benchmark set found under ``root``: the zoo's evaluation (``basicsr test``) of the file
    these weights make, in a temporary folder (kept, with its log, when the test fails); nothing is published."""
    import shutil
    import tempfile

    from aidn_plugin.zoo.checkpoints import save_checkpoint
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a file: scripts.*
    from scripts.bench.zoo_eval import DEFAULT_SETS, BenchmarkError, evaluate_weights
    scale = arch['upscale']
    sets = [s for s in DEFAULT_SETS if all(os.path.isdir(os.path.join(root, s, sub))
                                          for sub in ('HR', os.path.join('LR_bicubic', f'X{scale}')))]
    if not sets:
        raise SystemExit(f'--eval {root}: no <set>/HR and <set>/LR_bicubic/X{scale} of {", ".join(DEFAULT_SETS)}')
    print(f'evaluating on {", ".join(sets)} under {root} (basicsr test) ...', file=sys.stderr)
    work = tempfile.mkdtemp(prefix='publish_eval_')
    save_checkpoint(os.path.join(work, f'{name}.pth'), state_dict, arch)
    try:
        record = evaluate_weights(os.path.join(work, f'{name}.pth'), name, scale, root, sets, work, 2, 'publish')
    except BenchmarkError as error:
        raise SystemExit(f'--eval {root}: {error}') from None
    shutil.rmtree(work)
    return {key: round(value['psnr'], 2) for key, value in record['sets'].items()}


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
    model_from_state_dict(state_dict, stored, hints, checkpoint)  # loads strictly into AIDN, or raises
    arch = resolve_arch(state_dict, stored, hints, checkpoint)
    arch.pop('deploy')  # a property of the tensors, not of the network
    arch['rgb_mean'] = [float(v) for v in arch['rgb_mean']]
    clean = {key: value.detach().to(torch.float32).contiguous().clone() for key, value in state_dict.items()}

    psnr = dict(psnr or {})
    if eval_root:
        psnr.update(evaluate(clean, arch, name, eval_root))
    path, sha256 = save_named_checkpoint(out_dir, name, clean, arch)
    filename = os.path.basename(path)
    overrides = {key: value for key, value in arch.items()  # what differs from AIDN's constructor defaults
                 if key == 'upscale' or _plain(value) != _plain(ARCH_DEFAULTS.get(key))}
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
    hints = parse_pairs(args.arch, '--arch', yaml.safe_load, 'KEY=VALUE')
    psnr = parse_pairs(args.psnr, '--psnr', lambda v: round(float(v), 2), 'SET=DB, e.g. Set5=32.18')
    try:
        path, sha256, _ = publish(args.checkpoint, args.name, args.out_dir, url_base=args.url_base, arch_hints=hints,
                                  train_data=args.train_data, recipe=args.recipe, license=args.license, psnr=psnr,
                                  notes=args.notes, evidence=args.evidence, eval_root=args.eval)
    except CheckpointError as error:
        raise SystemExit(f'publish_weights: error: {error}') from None
    table = os.path.join(args.out_dir, 'published.json')
    print(f'wrote {path}\nsha256 {sha256}\nentry {args.name} written to {table}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
