"""Entry script for the torchrun test: BasicSR's train pipeline through the `basicsr` command's main(),
with a model class that, at the end of training, saves every rank's own copy of the weights, so the test
can check that DDP kept the ranks identical."""
import os
import sys

import torch

import aidn_plugin  # noqa: F401
from aidn_plugin.cli.basicsr_cli import main
from aidn_plugin.models import AIDNModel
from basicsr.utils.registry import MODEL_REGISTRY


@MODEL_REGISTRY.register()
class RankDumpAIDNModel(AIDNModel):

    def save(self, epoch, current_iter):
        super().save(epoch, current_iter)
        if current_iter == -1:
            rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
            state = self.get_bare_model(self.net_g).state_dict()
            torch.save(state, os.path.join(self.opt['path']['experiments_root'], f'rank{rank}_net_g.pth'))


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
