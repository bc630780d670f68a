"""One training run of the campaign: its option file (from ``options/campaign_AIDN_x<s>[_warmstart].yml``),
its training-image list, its start weights (the zoo file, or the x2 body in a fresh network), and
``basicsr train --auto_resume`` in the work folder.
"""
import copy
import os

import yaml

from scripts.bench.quality import REPO, BenchmarkError, find_training_images, run_basicsr, write_yaml
from scripts.bench.report_io import write_text_atomic
from scripts.weights_campaign.log import CampaignError

OPTIONS_DIR = os.path.join(REPO, 'options')
KINDS = {'continue': 'campaign_AIDN_x{scale}.yml', 'warm start': 'campaign_AIDN_x{scale}_warmstart.yml'}


def option_file(scale, kind):
    """The committed option file of a chunk kind (``continue`` or ``warm start``) at ``scale``."""
    path = os.path.join(OPTIONS_DIR, KINDS[kind].format(scale=scale))
    if not os.path.isfile(path):
        what = 'x3 and x4 only: x2 is where warm starts come from' if kind == 'warm start' else 'missing'
        raise CampaignError(f'{os.path.relpath(path, REPO)}: no such option file ({kind} chunks: {what})')
    return path


def apply_override(options, item):
    """``KEY:SUB:...=VALUE`` (BasicSR's ``--force_yml`` syntax; VALUE parsed as YAML) into ``options``.
    Every key but the last must exist, so a typo is an error, not a silently added key."""
    keys, sep, value = item.partition('=')
    path = keys.split(':')
    if not sep or not all(path):
        raise CampaignError(f'--override {item!r}: expected KEY:SUB=VALUE, e.g. datasets:train:gt_size=64')
    node = options
    for depth, key in enumerate(path[:-1]):
        if not isinstance(node.get(key), dict):
            raise CampaignError(f'--override {item!r}: the option file has no section {":".join(path[:depth + 1])}')
        node = node[key]
    node[path[-1]] = yaml.safe_load(value)


def load_options(path, overrides=()):
    """The option file ``path`` with the ``--override`` items applied."""
    with open(path, encoding='utf-8') as handle:
        options = yaml.safe_load(handle)
    for item in overrides or ():
        apply_override(options, item)
    return options


def network_args(options):
    """AIDN's keyword arguments from ``network_g`` (the type removed)."""
    args = dict(options['network_g'])
    if args.pop('type', None) != 'AIDN':
        raise CampaignError('network_g: the campaign trains type AIDN')
    return args


def training_list(folders, patch, work_dir, scale):
    """The training images under ``folders`` at least ``patch`` pixels on their shorter side, listed in a
    BasicSR meta_info file in ``work_dir``; returns (root, meta_info path, description for the log)."""
    try:
        root, names, skipped = find_training_images(folders, patch)
    except BenchmarkError as error:
        raise CampaignError(str(error)) from None
    meta_info = os.path.join(work_dir, f'meta_info_x{scale}.txt')
    write_text_atomic(meta_info, ''.join(f'{name}\n' for name in names))
    shown = [os.path.relpath(os.path.abspath(f), REPO) if os.path.abspath(f).startswith(REPO + os.sep) else f
             for f in folders]
    parts = sorted({name.split(os.sep)[0] for name in names if os.sep in name})
    description = (f'{" ".join(shown)}{" (" + " + ".join(parts) + ")" if parts else ""}: {len(names)} images '
                   f'at least {patch} px ({len(skipped)} smaller left out), whole images, LR made on the fly with '
                   'MATLAB-style bicubic')
    return root, meta_info, description


def check_fits(path, options):
    """Raise CampaignError unless the weights in ``path`` load strictly into ``network_g``: the mistake is
    then one line here instead of a traceback inside ``basicsr train``."""
    from aidn_plugin.archs.aidn_arch import AIDN
    from aidn_plugin.zoo.checkpoints import read_checkpoint
    state_dict, _ = read_checkpoint(path)
    try:
        AIDN(**network_args(options)).load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        detail = str(error).strip().splitlines()
        raise CampaignError(f'{path}: does not load into the option file\'s network_g '
                            f'({detail[1].strip() if len(detail) > 1 else detail[0]})') from None


def write_warm_start(source_path, options, out_path, seed):
    """The warm-start weights: a network of ``options``' ``network_g``, initialised from ``seed``, with the
    body of ``source_path`` (the x2 weights) copied in; saved as ``{'params', 'arch'}`` at ``out_path``."""
    import torch

    from aidn_plugin.archs.aidn_arch import AIDN
    from aidn_plugin.zoo.checkpoints import read_checkpoint, save_checkpoint
    from aidn_plugin.zoo.warm_start import warm_start_state_dict
    source, _ = read_checkpoint(source_path)
    args = network_args(options)
    torch.manual_seed(seed)  # the upsampler's and the fusion's fresh initialisation, reproducible
    target = AIDN(**args)
    state = warm_start_state_dict(source, target, source=os.fspath(source_path))
    save_checkpoint(out_path, state, {k: (list(v) if isinstance(v, tuple) else v) for k, v in args.items()})
    return out_path


def run_options(base, name, seed, start_path, iters, lr, eta_min, data_root, meta_info):
    """The option file of one run: ``base`` with its name, seed, start weights, data list and a cosine cycle
    from ``lr`` to ``eta_min`` over ``iters`` iterations."""
    options = copy.deepcopy(base)
    options['name'] = name
    options['manual_seed'] = seed
    train_set = options['datasets']['train']
    train_set['dataroot_gt'] = data_root
    train_set['meta_info_file'] = meta_info
    train_set.pop('dataroot_lq', None)  # LR made on the fly from the listed HR images
    options['path'].update(pretrain_network_g=start_path, strict_load_g=True, param_key_g='params',
                           resume_state=None)
    train = options['train']
    train['optim_g']['lr'] = lr
    train['total_iter'] = iters
    train['scheduler'] = {'type': 'CosineAnnealingRestartLR', 'periods': [iters], 'restart_weights': [1],
                          'eta_min': eta_min}
    return options


def train(options, work_dir, threads):
    """Write the run's option file and run ``basicsr train --auto_resume`` in ``work_dir`` (so an
    interrupted run continues from its newest training state); returns (final checkpoint, seconds)."""
    option_path = os.path.join(work_dir, f'{options["name"]}.yml')
    write_yaml(option_path, options)
    seconds = run_basicsr('train', option_path, work_dir, threads, log_name=f'{options["name"]}_train.out',
                          extra=('--auto_resume', ))
    checkpoint = os.path.join(work_dir, 'experiments', options['name'], 'models', 'net_g_latest.pth')
    if not os.path.isfile(checkpoint):
        raise CampaignError(f'basicsr train finished without writing {checkpoint}')
    return checkpoint, seconds


def has_training_state(work_dir, name):
    """Whether BasicSR left a training state of run ``name`` in ``work_dir`` (what --auto_resume uses)."""
    states = os.path.join(work_dir, 'experiments', name, 'training_states')
    return os.path.isdir(states) and any(f.endswith('.state') for f in os.listdir(states))
