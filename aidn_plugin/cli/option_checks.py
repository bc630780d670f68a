"""Checks of a BasicSR option file before any work starts, so a mistake costs one line, not a traceback
half-way into a run (or, worse, a run that "succeeds" without training). Each check raises
:class:`~aidn_plugin.cli.errors.UsageError` naming the key.

Checked: the YAML parses to a mapping; required keys are present; no unknown top-level key (the nearest
valid key is suggested); every dataroot / meta_info_file exists; the network's ``upscale`` agrees with the
option file's ``scale``; ``num_gpu`` does not exceed the GPUs present; the training set holds at least one
global batch; every validation / test set can be built; ``basicsr test`` has a network checkpoint to load;
``train.amp`` / ``val.amp`` / ``train.grad_clip`` are valid, and fp16 is not asked of a CPU run.
``--force_yml`` overrides are applied first.
"""
import difflib
import math
import os

import yaml

from aidn_plugin.cli.errors import UsageError

# Top-level keys BasicSR 1.4.2 reads (train.py, test.py, options.py, models/) or sets itself.
KNOWN_TOP_LEVEL_KEYS = {
    'name', 'model_type', 'scale', 'num_gpu', 'manual_seed', 'datasets', 'network_g', 'network_d', 'path',
    'train', 'val', 'logger', 'dist_params', 'find_unused_parameters', 'is_train', 'dist', 'rank', 'world_size',
    'auto_resume', 'root_path',
}
# Real-ESRGAN-style models read their degradation settings from the top level.
DEGRADATION_MODELS = {'RealESRGANModel', 'RealESRNetModel'}
DATAROOT_KEYS = ('dataroot_gt', 'dataroot_lq', 'dataroot_edge', 'meta_info_file')


def load_option_file(path):
    """Parse an option YAML file as BasicSR does (ordered mappings, ``!!float``)."""
    from basicsr.utils.options import ordered_yaml
    try:
        with open(path, encoding='utf-8') as handle:
            opt = yaml.load(handle, Loader=ordered_yaml()[0])
    except yaml.YAMLError as error:
        raise UsageError(f'{path}: not valid YAML: {error}'.replace('\n', ' ')) from None
    if not isinstance(opt, dict):
        raise UsageError(f'{path}: expected a mapping of options at the top level, got {type(opt).__name__}')
    return opt


def apply_force_yml(opt, entries):
    """Apply ``--force_yml a:b:c=value`` overrides in place, as BasicSR's parse_options will, so the checks
    see the options the run will use."""
    from aidn_plugin.compat import parse_option_value
    for entry in entries or ():
        if entry.count('=') != 1:
            raise UsageError(f'--force_yml {entry!r}: expected KEY:SUBKEY=VALUE')
        keys, value = (part.strip() for part in entry.split('='))
        *parents, leaf = keys.split(':')
        node = opt
        for depth, key in enumerate(parents):
            if not isinstance(node, dict) or key not in node:
                raise UsageError(f"--force_yml {entry!r}: {':'.join(parents[:depth + 1])!r} is not in the option file")
            node = node[key]
        if not isinstance(node, dict):
            raise UsageError(f"--force_yml {entry!r}: {':'.join(parents)!r} is not a mapping")
        node[leaf] = parse_option_value(value)


def check_option_file(path, subcommand, args, world_size=None):
    """Check the option file ``path`` for ``basicsr train`` / ``basicsr test``.

    Args:
        path (str): the option file.
        subcommand (str): ``train`` or ``test``.
        args (argparse.Namespace): the parsed flags (``launcher`` and ``force_yml`` are used).
        world_size (int | None): processes in a distributed run; default: ``WORLD_SIZE`` from the
            environment when ``--launcher`` is not ``none``, else 1.

    Returns:
        dict: the parsed options.
    """
    opt = load_option_file(path)
    apply_force_yml(opt, getattr(args, 'force_yml', None))
    for key in ('name', 'model_type', 'datasets', 'network_g', 'path'):
        if key not in opt:
            raise UsageError(f'{path}: missing required top-level key {key!r}')
    _check_top_level_keys(path, opt)
    _check_dataroots(path, opt)
    _check_scale(path, opt)
    _check_num_gpu(path, opt)
    _check_amp(path, opt, subcommand)
    if subcommand == 'train':
        if world_size is None:
            world_size = int(os.environ.get('WORLD_SIZE', '1')) if args.launcher != 'none' else 1
        _check_train_set_size(path, opt, world_size)
    else:
        _check_test_checkpoint(path, opt)
    _check_evaluation_sets(path, opt)
    return opt


def _check_top_level_keys(path, opt):
    if opt.get('model_type') in DEGRADATION_MODELS:
        return
    for key in opt:
        if key not in KNOWN_TOP_LEVEL_KEYS:
            near = difflib.get_close_matches(str(key), sorted(KNOWN_TOP_LEVEL_KEYS), n=1)
            hint = f'; did you mean {near[0]!r}?' if near else ''
            raise UsageError(f'{path}: unknown top-level key {key!r}{hint}')


def _datasets(opt):
    datasets = opt['datasets']
    if not isinstance(datasets, dict):
        raise UsageError(f"'datasets' must be a mapping of phase -> dataset options, got {type(datasets).__name__}")
    return datasets.items()


def _check_dataroots(path, opt):
    """Every missing path at once, so that one run shows everything to fix."""
    missing = []
    for phase, dataset in _datasets(opt):
        for key in DATAROOT_KEYS:
            value = dataset.get(key)
            if value is not None and not os.path.exists(os.path.expanduser(str(value))):
                missing.append(f'datasets.{phase}.{key} ({value})')
    if len(missing) == 1:
        raise UsageError(f'{path}: {missing[0].replace(" (", " does not exist: ", 1)[:-1]}')
    if missing:
        raise UsageError(f'{path}: {len(missing)} paths do not exist: {"; ".join(missing)}')


def _check_scale(path, opt):
    """The one check of the training/test scale: it agrees with the network's, and AIDN supports it (the
    architecture's own list, ``SUPPORTED_SCALES``)."""
    network = opt['network_g'] or {}
    upscale = network.get('upscale')
    scale = opt.get('scale')
    if upscale is not None and scale is not None and upscale != scale:
        raise UsageError(f'{path}: scale is {scale} but network_g.upscale is {upscale}; they must agree')
    if network.get('type') == 'AIDN':
        from aidn_plugin.archs.aidn_arch import SUPPORTED_SCALES
        for key, value in (('scale', scale), ('network_g.upscale', upscale)):
            if value is not None and value not in SUPPORTED_SCALES:
                raise UsageError(f'{path}: {key} is {value!r}; AIDN supports the scales '
                                 f'{", ".join(map(str, SUPPORTED_SCALES))}')


def _resolved_num_gpu(opt):
    import torch
    wanted = opt.get('num_gpu', 0)
    return torch.cuda.device_count() if wanted == 'auto' else int(wanted or 0)


def _check_num_gpu(path, opt):
    import torch
    wanted = opt.get('num_gpu', 0)
    if wanted == 'auto':
        return
    present = torch.cuda.device_count()
    if not isinstance(wanted, int) or wanted < 0:
        raise UsageError(f"{path}: num_gpu must be a non-negative integer or 'auto', got {wanted!r}")
    if wanted > present:
        raise UsageError(f'{path}: num_gpu is {wanted} but this machine has {present} CUDA GPU(s); '
                         f"use num_gpu: {present} (0 trains on the CPU) or 'auto'")


def _check_amp(path, opt, subcommand):
    """Mixed-precision keys (aidn_plugin.utils.amp); fp16 needs CUDA, so a CPU run is refused here."""
    from aidn_plugin.utils import amp
    device_type = 'cuda' if _resolved_num_gpu(opt) > 0 else 'cpu'  # BasicSR's own rule (num_gpu != 0)
    sections = (('train', opt.get('train')), ('val', opt.get('val'))) if subcommand == 'train' else \
        (('val', opt.get('val')),)
    try:
        for section, values in sections:
            if isinstance(values, dict):
                amp.check_amp_device(amp.parse_amp(values.get('amp'), f'{section}.amp'), f'{section}.amp',
                                     device_type)
        if subcommand == 'train' and isinstance(opt.get('train'), dict):
            amp.parse_grad_clip(opt['train'].get('grad_clip'))
    except ValueError as error:
        raise UsageError(f'{path}: {error}') from None


def _check_train_set_size(path, opt, world_size):
    """A set smaller than one global batch yields no iteration at all, and BasicSR reports success."""
    train = opt['datasets'].get('train')
    if train is None:
        return
    for key in ('type', 'batch_size_per_gpu'):
        if key not in train:
            raise UsageError(f'{path}: datasets.train.{key} is missing')
    dataset_opt = dict(train, phase='train', name=train.get('name', 'train'))
    if 'scale' in opt:
        dataset_opt['scale'] = opt['scale']
    length = len(_build_dataset(path, 'train', dataset_opt))
    ratio = train.get('dataset_enlarge_ratio', 1)
    per_process = math.ceil(length * ratio / world_size)
    batch = train['batch_size_per_gpu']
    if world_size == 1:
        batch *= max(_resolved_num_gpu(opt), 1)  # BasicSR's non-distributed loader batches over all GPUs
    if per_process < batch:
        raise UsageError(f'{path}: the training set has {length} sample(s) (x{ratio} enlarge ratio) for '
                         f'{world_size} process(es), {per_process} per process, fewer than one batch of {batch}: '
                         'training would end at iteration 0; lower batch_size_per_gpu or raise '
                         'dataset_enlarge_ratio')


def _build_dataset(path, phase, dataset_opt):
    from basicsr.utils.registry import DATASET_REGISTRY
    try:
        # the class itself, not basicsr.data.build_dataset: that one logs through BasicSR's root logger,
        # and a logger set up before train_pipeline's would never write the run's log file
        return DATASET_REGISTRY.get(dataset_opt['type'])(dataset_opt)
    except (OSError, ValueError, KeyError) as error:
        raise UsageError(f'{path}: datasets.{phase} could not be built: {error}') from None


def _check_evaluation_sets(path, opt):
    """Build every validation / test set as the run will (BasicSR's phase is the key before ``_``), so that
    a set that cannot be used (an LMDB missing a key its meta_info lists, an unknown dataset type) is one
    line now, not a traceback once training or testing has begun."""
    for phase, dataset in _datasets(opt):
        if phase == 'train' or not isinstance(dataset, dict) or 'type' not in dataset:
            continue
        dataset_opt = dict(dataset, phase=phase.split('_')[0], name=dataset.get('name', phase))
        if 'scale' in opt:
            dataset_opt['scale'] = opt['scale']
        _build_dataset(path, phase, dataset_opt)


def _check_test_checkpoint(path, opt):
    checkpoint = opt['path'].get('pretrain_network_g')
    if checkpoint is None:
        raise UsageError(f'{path}: path.pretrain_network_g is not set: basicsr test needs a checkpoint to evaluate')
    if not os.path.isfile(os.path.expanduser(str(checkpoint))):
        raise UsageError(f'{path}: path.pretrain_network_g does not exist: {checkpoint}')
