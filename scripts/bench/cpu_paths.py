"""AIDN's CPU inference paths against SAFMN channels-last, interleaved in one process, one JSON.

    python -m scripts.bench.cpu_paths                        # 1 and 2 threads, 320x180 -> 1280x720 x4
    python -m scripts.bench.cpu_paths --threads 2 --repeats 9

For each thread count (``torch.set_num_threads`` and the ONNX Runtime sessions' intra-op threads), the
tasks below run round-robin (the first task of a round rotates), ``--repeats`` timed rounds after one
warm-up, on the same random input:

* ``safmn_cl``: SAFMN dim 36, 8 blocks, ffn 2 (spandrel), model and input channels-last (its better
  layout), under ``torch.no_grad``;
* ``aidn_training_form``: the fused AIDN under ``torch.no_grad`` with the inference pass switched off
  (``aidn_deploy.disabled()``): what ``AIDN().fuse()`` ran before issue 11;
* ``aidn_torch`` / ``aidn_torch_cl``: the fused AIDN under ``torch.no_grad`` (the inference pass of
  ``archs/aidn_deploy``), NCHW and channels-last input;
* ``aidn_ort_fp32`` / ``aidn_ort_int8``: the same weights exported with ``inference.onnx_export`` and
  quantized with ``inference.onnx_quantize`` defaults, run by ``inference.ort_runtime``;
  ``aidn_ort_int8_uint8_weights`` the same with uint8 weights (``--int8-weights uint8``);
* ``matmul``: a dense 2048x2048 float32 matrix product (the MAC/s yardstick).

The AIDN weights are the shipped ``aidn_x4`` (the int8 calibration needs real weights); SAFMN is freshly
initialised (its speed does not depend on its weights). Reported per task: median, min, quartiles (ms),
the ratio of medians to ``safmn_cl`` and to ``aidn_torch``, and for the AIDN tasks the achieved MAC/s
(MACs of the fused network at this size, counted by ``archs.complexity.count_complexity``) as a fraction
of the matmul's. One thread is timed with ``time.thread_time`` (CPU time of the calling thread: robust to
other processes on a shared machine; ONNX Runtime with one intra-op thread runs in the caller), two with
``time.perf_counter``.

Options: ``--threads`` (list, default 1 2), ``--size WxH`` (output, 1280x720), ``--repeats`` (7),
``--out`` (benchmarks/cpu_paths_speed.json, written atomically).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

from scripts.bench.report_io import machine_info, write_json_atomic
from scripts.bench.timing import round_robin

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = 'safmn_cl'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--size', default='1280x720')
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--out', default=os.path.join(ROOT, 'benchmarks', 'cpu_paths_speed.json'))
    args = parser.parse_args(argv)

    import torch

    from aidn_plugin import zoo
    from aidn_plugin.archs import aidn_deploy
    from aidn_plugin.archs.complexity import count_complexity
    from aidn_plugin.inference import onnx_quantize, ort_runtime
    from aidn_plugin.inference.onnx_export import export_onnx
    from spandrel.architectures.SAFMN import SAFMN

    width, height = (int(v) for v in args.size.lower().split('x'))
    aidn = zoo.load_model('aidn_x4', fuse=True).eval()
    scale = aidn.upscale
    macs = count_complexity(aidn, (width, height), scale)['macs']
    safmn = SAFMN(dim=36, n_blocks=8, ffn_scale=2.0, upscaling_factor=scale).eval()
    safmn = safmn.to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, height // scale, width // scale, generator=torch.Generator().manual_seed(0))
    x_cl = x.contiguous(memory_format=torch.channels_last)
    a, b, c = torch.rand(2048, 2048), torch.rand(2048, 2048), torch.empty(2048, 2048)
    report = {'machine': machine_info(args.threads),
              'command': 'python -m scripts.bench.cpu_paths ' + ' '.join(argv if argv is not None else sys.argv[1:]),
              'input': [1, 3, height // scale, width // scale], 'output_size': [width, height], 'scale': scale,
              'aidn_macs': macs, 'runs': {}}
    with tempfile.TemporaryDirectory() as work:
        fp32_path, int8_path = os.path.join(work, 'fp32.onnx'), os.path.join(work, 'int8.onnx')
        export_onnx(aidn, fp32_path)
        calibration, _ = onnx_quantize.split_held_out(onnx_quantize.default_calibration_images())
        onnx_quantize.quantize_int8(fp32_path, int8_path, calibration, scale)
        uint8w_path = os.path.join(work, 'int8_uint8_weights.onnx')
        onnx_quantize.quantize_int8(fp32_path, uint8w_path, calibration, scale, weights='uint8')
        for threads in args.threads:
            torch.set_num_threads(threads)
            fp32, int8 = ort_runtime.load(fp32_path, threads), ort_runtime.load(int8_path, threads)
            uint8w = ort_runtime.load(uint8w_path, threads)
            x_np = x.numpy()

            def training_form():
                with aidn_deploy.disabled():
                    aidn(x)

            tasks = {
                'safmn_cl': lambda: safmn(x_cl),
                'aidn_training_form': training_form,
                'aidn_torch': lambda: aidn(x),
                'aidn_torch_cl': lambda: aidn(x_cl),
                'aidn_ort_fp32': lambda: fp32.run(x_np),
                'aidn_ort_int8': lambda: int8.run(x_np),
                'aidn_ort_int8_uint8_weights': lambda: uint8w.run(x_np),
                'matmul': lambda: torch.mm(a, b, out=c),
            }
            timer = time.thread_time if threads == 1 else time.perf_counter
            with torch.no_grad():
                samples = round_robin(tasks, args.repeats, warmup=1, timer=timer)
            medians = {name: statistics.median(values) for name, values in samples.items()}
            matmul_macs_per_s = 2048 ** 3 / medians['matmul']
            run = {'timer': timer.__name__, 'matmul_gmacs': round(matmul_macs_per_s / 1e9, 2), 'tasks': {}}
            for name, values in samples.items():
                ms = sorted(v * 1e3 for v in values)
                q1, _, q3 = statistics.quantiles(ms, n=4, method='inclusive') if len(ms) > 1 else (ms[0],) * 3
                entry = {'median_ms': round(medians[name] * 1e3, 2), 'min_ms': round(ms[0], 2),
                         'q1_ms': round(q1, 2), 'q3_ms': round(q3, 2)}
                if name != 'matmul':
                    entry['vs_safmn_cl'] = round(medians[name] / medians[REFERENCE], 3)
                    entry['vs_aidn_torch'] = round(medians[name] / medians['aidn_torch'], 3)
                if name.startswith('aidn'):
                    entry['matmul_fraction'] = round(macs / medians[name] / matmul_macs_per_s, 3)
                run['tasks'][name] = entry
            report['runs'][str(threads)] = run
            print(f'{threads} thread(s):', {k: (v['median_ms'], v.get('vs_safmn_cl')) for k, v in run['tasks'].items()},
                  flush=True)
    write_json_atomic(args.out, report)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
