"""Workarounds that let BasicSR 1.4.2 run on today's torch / torchvision, each applied only when needed.

``apply()`` is idempotent. It runs in two stages:

* before ``basicsr`` is imported: :func:`patch_torchvision_functional_tensor`;
* after: the patches that wrap BasicSR functions (they need the module objects).

Every patch checks whether its problem exists and leaves BasicSR alone when it does not, so builds of
BasicSR that already carry a fix, and machines with CUDA, keep BasicSR's own code. ``applied()`` lists
what was patched in this process.
"""
import importlib.util
import os
import sys

_APPLIED = []


def applied():
    """Names of the workarounds active in this process."""
    return list(_APPLIED)


def _mark(name):
    if name not in _APPLIED:
        _APPLIED.append(name)


def _basicsr_source(relative_path):
    """Text of a file inside the installed ``basicsr`` package, found without importing it (importing is
    what fails); None when basicsr or the file is absent."""
    spec = importlib.util.find_spec('basicsr')
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], relative_path)
    if not os.path.isfile(path):
        return None
    with open(path, encoding='utf-8') as handle:
        return handle.read()


def patch_torchvision_functional_tensor():
    """torchvision 0.17 removed ``torchvision.transforms.functional_tensor`` (renamed to
    ``_functional_tensor``); ``basicsr.data.degradations`` of BasicSR 1.4.2 still imports it, so
    ``import basicsr`` fails. Alias the old name to the new module, only when BasicSR imports the old name
    and torchvision lacks it."""
    old = 'torchvision.transforms.functional_tensor'
    if 'basicsr.data.degradations' in sys.modules:  # BasicSR already imported fine: nothing to fix
        return False
    if old in sys.modules or importlib.util.find_spec(old) is not None:
        return False
    source = _basicsr_source(os.path.join('data', 'degradations.py'))
    if source is None or old not in source:
        return False
    from torchvision.transforms import _functional_tensor
    sys.modules[old] = _functional_tensor
    _mark('torchvision_functional_tensor')
    return True


def _cuda_available():
    import torch
    return torch.cuda.is_available()


def patch_cpu_distributed_init():
    """BasicSR's ``_init_dist_pytorch`` calls ``torch.cuda.set_device`` and uses nccl: both fail on a
    machine without CUDA (ZeroDivisionError / no nccl). There, use gloo and skip the device choice."""
    if _cuda_available():
        return False
    from basicsr.utils import dist_util
    if getattr(dist_util._init_dist_pytorch, '_aidn_patched', False):
        return True

    def _init_dist_pytorch_cpu(backend='gloo', **kwargs):
        import torch.distributed as dist
        dist.init_process_group(backend='gloo', **kwargs)

    _init_dist_pytorch_cpu._aidn_patched = True
    dist_util._init_dist_pytorch = _init_dist_pytorch_cpu
    _mark('cpu_distributed_init')
    return True


def patch_cpu_ddp_wrapping():
    """``BaseModel.model_to_device`` passes ``device_ids=[torch.cuda.current_device()]`` to DDP, which
    fails without CUDA. For a model on the CPU, wrap with DDP without device ids."""
    if _cuda_available():
        return False
    from basicsr.models.base_model import BaseModel
    original = BaseModel.model_to_device
    if getattr(original, '_aidn_patched', False):
        return True

    def model_to_device(self, net):
        if self.opt.get('dist') and self.device.type == 'cpu':
            from torch.nn.parallel import DistributedDataParallel
            return DistributedDataParallel(
                net.to(self.device), find_unused_parameters=self.opt.get('find_unused_parameters', False))
        return original(self, net)

    model_to_device._aidn_patched = True
    BaseModel.model_to_device = model_to_device
    _mark('cpu_ddp_wrapping')
    return True


def patch_cpu_resume_state():
    """``basicsr.train.load_resume_state`` maps the state to ``torch.cuda.current_device()``, which fails
    without CUDA. There, load it onto the CPU (with ``weights_only=True``) instead."""
    if _cuda_available():
        return False
    import basicsr.train as train_module
    original = train_module.load_resume_state
    if getattr(original, '_aidn_patched', False):
        return True

    def load_resume_state(opt):
        import torch
        path = _resume_state_path(opt)
        if path is None:
            return None
        state = torch.load(path, map_location='cpu', weights_only=True)
        train_module.check_resume(opt, state['iter'])
        return state

    load_resume_state._aidn_patched = True
    train_module.load_resume_state = load_resume_state
    _mark('cpu_resume_state')
    return True


def _resume_state_path(opt):
    """The state BasicSR would resume from: the newest ``<iter>.state`` of the experiment with
    ``--auto_resume`` (setting ``path.resume_state`` as BasicSR does), else ``path.resume_state``."""
    if not opt['auto_resume']:
        return opt['path'].get('resume_state')
    state_dir = os.path.join('experiments', opt['name'], 'training_states')
    if not os.path.isdir(state_dir):
        return None
    iters = [int(name[:-len('.state')]) for name in os.listdir(state_dir)
             if name.endswith('.state') and name[:-len('.state')].isdigit()]
    if not iters:
        return None
    opt['path']['resume_state'] = os.path.join(state_dir, f'{max(iters)}.state')
    return opt['path']['resume_state']


def parse_option_value(text):
    """A ``--force_yml`` value parsed exactly as BasicSR's ``parse_options`` will parse it (BasicSR keeps
    that parser private: ``basicsr.utils.options._postprocess_yml_value``; this is the one place the
    package reaches into it)."""
    from basicsr.utils.options import _postprocess_yml_value
    return _postprocess_yml_value(text)


def apply():
    """Apply every needed workaround; safe to call repeatedly, before or after ``import basicsr``."""
    patch_torchvision_functional_tensor()
    import basicsr  # noqa: F401  (the remaining patches wrap BasicSR's modules)
    patch_cpu_distributed_init()
    patch_cpu_ddp_wrapping()
    patch_cpu_resume_state()
    return applied()


__all__ = ['apply', 'applied', 'parse_option_value', 'patch_torchvision_functional_tensor', 'patch_cpu_distributed_init',
           'patch_cpu_ddp_wrapping', 'patch_cpu_resume_state']
