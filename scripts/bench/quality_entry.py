"""Entry script of the equal-budget quality benchmark: ``basicsr train|test`` with two additions: spandrel's
SAFMN and SPAN in BasicSR's ARCH_REGISTRY (``peers.register_peers``: an option file can train them), and
``MetricDumpModel``, AIDNModel (edge feeding for networks that take it, plain ``net(lq)`` otherwise) writing
each validation set's mean metrics to ``<results_root>/metrics_<set>.json``, so the benchmark reads numbers
rather than parsing logs.

    python -m scripts.bench.quality_entry train -opt OPTIONS.yml [basicsr flags]
    python -m scripts.bench.quality_entry test -opt OPTIONS.yml
"""
import os
import sys

import aidn_plugin  # noqa: F401  (compat layer before BasicSR)
from aidn_plugin.cli.basicsr_cli import main
from aidn_plugin.models import AIDNModel
from basicsr.utils.registry import MODEL_REGISTRY
from scripts.bench import peers
from scripts.bench.report_io import write_json_atomic

peers.register_peers()


if 'MetricDumpModel' not in MODEL_REGISTRY:

    @MODEL_REGISTRY.register()
    class MetricDumpModel(AIDNModel):
        """AIDNModel that also writes each validation set's mean metrics to a JSON file."""

        def nondist_validation(self, dataloader, current_iter, tb_logger, save_img):
            super().nondist_validation(dataloader, current_iter, tb_logger, save_img)
            results = getattr(self, 'metric_results', None)
            if not results:
                return
            name = dataloader.dataset.opt['name']
            folder = self.opt['path'].get('results_root') or self.opt['path']['experiments_root']
            record = {metric: float(value) for metric, value in results.items()}
            record.update(images=len(dataloader.dataset), iteration=str(current_iter))
            write_json_atomic(os.path.join(folder, f'metrics_{name}.json'), record)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
