"""``basicsr test`` of one weight file on Set5/Set14/B100, as an evidence record.

The same evaluation as ``scripts.bench.zoo_eval`` (the option file of ``scripts.bench.quality``'s
``evaluation_options``, run through ``scripts.bench.quality_entry`` whose ``MetricDumpModel`` writes each
set's means to JSON), and the same record, so a published chunk's record is the zoo entry's evidence file
and ``python -m scripts.bench.zoo_eval --names NAME`` reproduces it.
"""
import os

from scripts.bench.quality import check_test_sets, evaluation_options, read_metrics, run_basicsr, write_yaml
from scripts.bench.report_io import machine_info


def evaluate_file(path, name, scale, test_root, sets, work_dir, threads, tag, command, num_gpu='auto'):
    """Run ``basicsr test`` of the weight file ``path`` (its ``params``) and return its evidence record.

    Args:
        path (str): the weight file (a zoo file or a BasicSR checkpoint).
        name (str): the zoo name the record is for (``aidn_x4``).
        scale (int): the upscale factor; test LR are ``<set>/LR_bicubic/X<scale>/<stem>x<scale>.png``.
        test_root (str): folder holding ``<set>/HR`` and ``<set>/LR_bicubic``.
        sets (sequence of str): set names under ``test_root``.
        work_dir (str): where the option file, the log ``<tag>.out`` and BasicSR's ``results/<tag>`` go.
        threads (int): OMP/MKL threads of the run.
        tag (str): the run's name (BasicSR's ``name``); unique per evaluation.
        command (str): the command the record says it came from.
        num_gpu: BasicSR's ``num_gpu`` (``auto``: every GPU present, none on a CPU machine).

    Returns:
        dict: ``name``, ``scale``, ``filename``, ``sha256``, ``sets`` ({set: psnr, ssim, images}), ``test``,
        ``command``, ``test_seconds``, ``meta`` (date, machine, threads).
    """
    from aidn_plugin.archs.aidn_spec import resolve_arch
    from aidn_plugin.zoo.checkpoints import read_checkpoint
    from aidn_plugin.zoo.registry import file_sha256
    check_test_sets(test_root, sets, scale)
    state_dict, stored = read_checkpoint(path)
    network_g = dict(type='AIDN', **resolve_arch(state_dict, stored, None, source=os.fspath(path)))
    network_g['rgb_mean'] = [float(v) for v in network_g['rgb_mean']]
    option_file = os.path.join(work_dir, f'{tag}.yml')
    write_yaml(option_file, evaluation_options(tag, network_g, os.path.abspath(path), os.path.abspath(test_root),
                                               list(sets), scale, num_gpu))
    meta = machine_info(threads)
    seconds = run_basicsr('test', option_file, work_dir, threads, log_name=f'{tag}.out')
    return {
        'name': name, 'scale': scale, 'filename': os.path.basename(path), 'sha256': file_sha256(path),
        'sets': read_metrics(os.path.join(work_dir, 'results', tag), sets),
        'test': f'basicsr test, Y-channel PSNR/SSIM (BasicSR calculate_psnr/calculate_ssim), border crop {scale}',
        'command': command, 'test_seconds': round(seconds, 1), 'meta': meta,
    }
