"""AIDNModel: BasicSR's SRModel that also feeds the dataset's edge map to the network.

Everything else (optimizers, schedulers, EMA, validation, metrics) is SRModel's. Two additions:

* ``edge``: when a batch carries ``edge`` (``EdgePairedImageDataset`` does) and the network's ``forward``
  takes an ``edge`` argument (AIDN does), the network gets ``net(lq, edge)``; otherwise ``net(lq)``, and AIDN
  computes the edge itself. A forward pre-hook adds the edge, so SRModel's own training and test steps run
  unchanged; under DataParallel (``num_gpu`` > 1 without a launcher) the hook sits on the wrapper too, so
  the edge is scattered with the batch, and under DDP the bare model's hook recognises the fed batch.
* checkpoints (``.pth`` and ``.state``) are written atomically, so a kill never leaves a truncated file for
  ``--auto_resume`` to trip on.

Option keys are SRModel's; see BasicSR's documentation.
"""
import inspect
import os

from basicsr.models.sr_model import SRModel
from torch.nn import DataParallel
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import MODEL_REGISTRY

from aidn_plugin.utils.atomic import atomic_torch_save


def _accepts_edge(net):
    try:
        return 'edge' in inspect.signature(net.forward).parameters
    except (TypeError, ValueError):
        return False


@MODEL_REGISTRY.register()
class AIDNModel(SRModel):
    """SRModel + edge input + atomic checkpoints (see the module docstring)."""

    def __init__(self, opt):
        self.edge = None
        self.lq = None
        super().__init__(opt)
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
        atomic_torch_save(state, os.path.join(self.opt['path']['training_states'], f'{current_iter}.state'))
