"""AIDNModel: BasicSR's SRModel that also feeds the dataset's edge map to the network.

Everything else (optimizers, schedulers, EMA, validation, metrics) is SRModel's. Two additions:

* ``edge``: when a batch carries ``edge`` (``EdgePairedImageDataset`` does) and the network's ``forward``
  takes an ``edge`` argument (AIDN does), the network gets ``net(lq, edge)``; otherwise ``net(lq)``, and AIDN
  computes the edge itself. A forward pre-hook adds the edge, so SRModel's own training and test steps run
  unchanged; under DataParallel (``num_gpu`` > 1 without a launcher) the hook sits on the wrapper too, so
  the edge is scattered with the batch, and under DDP the bare model's hook recognises the fed batch.
* checkpoints (``.pth`` and ``.state``) are written atomically, so a kill never leaves a truncated file for
  ``--auto_resume`` to trip on.
* mixed precision and gradient clipping (``aidn_plugin.utils.amp``):

  - ``train.amp``: ``none`` (default), ``fp16`` (CUDA only, with a gradient scaler whose state is part of
    the training state, so ``--auto_resume`` restores it) or ``bf16`` (CUDA or CPU). Only the forward pass
    runs under ``torch.autocast``; the loss is computed in float32 on the float32 copy of the output, the
    weights, the optimizer, the EMA copy and the checkpoints stay float32.
  - ``train.grad_clip``: the largest L2 norm of the generator's gradients, or ``~`` (default, no clipping);
    fp16 gradients are unscaled first.
  - ``val.amp``: the precision of validation and ``basicsr test``; default ``none`` (float32).

Every other option key is SRModel's; see BasicSR's documentation.
"""
import inspect
import os
from collections import OrderedDict

import torch
from basicsr.models.sr_model import SRModel
from torch.nn import DataParallel
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import MODEL_REGISTRY

from aidn_plugin.utils import amp
from aidn_plugin.utils.atomic import atomic_torch_save


def _accepts_edge(net):
    try:
        return 'edge' in inspect.signature(net.forward).parameters
    except (TypeError, ValueError):
        return False


@MODEL_REGISTRY.register()
class AIDNModel(SRModel):
    """SRModel + edge input + atomic checkpoints + mixed precision (see the module docstring)."""

    def __init__(self, opt):
        self.edge = None
        self.lq = None
        self.amp = 'none'
        self.grad_clip = None
        self.grad_scaler = None
        super().__init__(opt)
        # validation / test precision: float32 unless val.amp asks otherwise
        self.val_amp = self._checked_amp((opt.get('val') or {}).get('amp'), 'val.amp')
        for name in ('net_g', 'net_g_ema'):  # net_g_ema exists in training with ema_decay > 0
            if hasattr(self, name):
                self._feed_edge_to(getattr(self, name))

    def _feed_edge_to(self, net):
        bare = self.get_bare_model(net)
        if not _accepts_edge(bare):
            return
        # DataParallel (num_gpu > 1 without a launcher) scatters the batch into new tensors, one chunk per
        # GPU, which the bare model's hook cannot recognise as the fed batch; so the wrapper itself gets the
        # edge too, before the scatter, which then splits the edge along the batch exactly like lq.
        for module in (bare, net) if isinstance(net, DataParallel) else (bare, ):
            if not getattr(module, '_aidn_edge_hook', False):
                module.register_forward_pre_hook(self._add_edge, with_kwargs=True)
                module._aidn_edge_hook = True

    def _add_edge(self, module, args, kwargs):
        # only for the batch fed by feed_data, and only when the caller gave no edge itself
        if len(args) == 1 and self._is_fed_batch(args[0]) and self.edge is not None and 'edge' not in kwargs:
            return args, dict(kwargs, edge=self.edge)
        return None

    def _is_fed_batch(self, x):
        # DDP may hand the module a new tensor object that shares the fed batch's storage
        lq = self.lq
        return lq is not None and (x is lq or (x.shape == lq.shape and x.data_ptr() == lq.data_ptr()))

    def _checked_amp(self, value, key):
        mode = amp.parse_amp(value, key)
        amp.check_amp_device(mode, key, self.device.type)
        return mode

    def init_training_settings(self):
        train_opt = self.opt['train']
        # checked before SRModel builds anything, so a bad value fails first
        self.amp = self._checked_amp(train_opt.get('amp'), 'train.amp')
        self.grad_clip = amp.parse_grad_clip(train_opt.get('grad_clip'))
        # fp16 gradients underflow without loss scaling; bf16 has float32's range and needs none
        self.grad_scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == 'fp16')
        super().init_training_settings()

    def optimize_parameters(self, current_iter):
        """SRModel's step (pixel and perceptual losses, EMA) with autocast, gradient scaling and clipping."""
        self.optimizer_g.zero_grad()
        with amp.autocast(self.amp, self.device.type):
            output = self.net_g(self.lq)
        # the loss in float32: a reduced-precision mean over a batch loses the small differences late in training
        self.output = output.float()

        l_total = 0
        loss_dict = OrderedDict()
        if self.cri_pix:
            l_pix = self.cri_pix(self.output, self.gt)
            l_total += l_pix
            loss_dict['l_pix'] = l_pix
        if self.cri_perceptual:
            l_percep, l_style = self.cri_perceptual(self.output, self.gt)
            if l_percep is not None:
                l_total += l_percep
                loss_dict['l_percep'] = l_percep
            if l_style is not None:
                l_total += l_style
                loss_dict['l_style'] = l_style

        scaler = self.grad_scaler
        scaler.scale(l_total).backward()  # the plain loss when the scaler is disabled
        if self.grad_clip is not None:
            scaler.unscale_(self.optimizer_g)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(self.net_g.parameters(), self.grad_clip)
        scaler.step(self.optimizer_g)  # skips the step when fp16 gradients overflowed
        scaler.update()

        self.log_dict = self.reduce_loss_dict(loss_dict)
        if scaler.is_enabled():
            self.log_dict['amp_scale'] = scaler.get_scale()

        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    def test(self):
        with amp.autocast(self.val_amp, self.device.type):
            super().test()
        self.output = self.output.float()

    def resume_training(self, resume_state):
        super().resume_training(resume_state)
        if self.grad_scaler is not None and self.grad_scaler.is_enabled() and resume_state.get('grad_scaler'):
            self.grad_scaler.load_state_dict(resume_state['grad_scaler'])

    def feed_data(self, data):
        super().feed_data(data)
        edge = data.get('edge')
        self.edge = edge.to(self.device) if edge is not None else None

    @master_only
    def save_network(self, net, net_label, current_iter, param_key='params'):
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        if len(nets) != len(keys):
            raise ValueError(f'save_network: {len(nets)} networks but {len(keys)} param keys')
        checkpoint = {}
        for net_, key in zip(nets, keys):
            state = self.get_bare_model(net_).state_dict()
            checkpoint[key] = {name.removeprefix('module.'): value.cpu() for name, value in state.items()}
        label = 'latest' if current_iter == -1 else current_iter
        atomic_torch_save(checkpoint, os.path.join(self.opt['path']['models'], f'{net_label}_{label}.pth'))

    @master_only
    def save_training_state(self, epoch, current_iter):
        if current_iter == -1:
            return
        state = {
            'epoch': epoch,
            'iter': current_iter,
            'optimizers': [o.state_dict() for o in self.optimizers],
            'schedulers': [s.state_dict() for s in self.schedulers],
        }
        if self.grad_scaler is not None and self.grad_scaler.is_enabled():
            state['grad_scaler'] = self.grad_scaler.state_dict()
        atomic_torch_save(state, os.path.join(self.opt['path']['training_states'], f'{current_iter}.state'))
