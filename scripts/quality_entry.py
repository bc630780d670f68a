"""Entry script of the equal-budget quality benchmark: ``basicsr train|test`` with two additions.

* ``SAFMN`` (spandrel's implementation) is registered in BasicSR's ARCH_REGISTRY (``peers.register_safmn``),
  so an option file can train it: ``type: SAFMN`` with ``dim``, ``n_blocks``, ``ffn_scale``,
  ``upscaling_factor``.
* ``MetricDumpModel``: AIDNModel (edge feeding for networks that take it, plain ``net(lq)`` otherwise) that,
  after each validation set, writes its mean metrics to ``<results_root>/metrics_<set>.json``, so the
  benchmark reads numbers rather than parsing logs.

    python scripts/quality_entry.py train -opt OPTIONS.yml [basicsr flags]
    python scripts/quality_entry.py test -opt OPTIONS.yml
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import aidn_plugin  # noqa: E402,F401
import peers  # noqa: E402
from aidn_plugin.cli.basicsr_cli import main  # noqa: E402
from aidn_plugin.models import AIDNModel  # noqa: E402
from basicsr.utils.registry import MODEL_REGISTRY  # noqa: E402
from bench_io import write_json_atomic  # noqa: E402

peers.register_safmn()


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
