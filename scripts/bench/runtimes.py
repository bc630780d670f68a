"""Every network at every CPU runtime, precision and layout that can run it, interleaved in one process.

    python -m scripts.bench.runtimes                    # 2 threads, 320x180 -> 1280x720 x4; alone on the machine
    python -m scripts.bench.runtimes --threads 1 --repeats 9 --models aidn_fused safmn span

Each network of ``--models`` (``scripts/bench/peers.py``) on the same random input, every path timed
round-robin (``scripts/bench/timing.py``), ``--repeats`` rounds after ``--warmup``, at ``--threads``
threads (torch, ONNX Runtime intra-op, OpenVINO inference threads):

* ``torch_fp32`` and ``torch_bf16`` (``torch.autocast``), each in NCHW and channels-last (input and weights);
* ``ort_fp32``: exported to ONNX (AIDN and AIDN light by the package's exporter, the others by
  ``torch.onnx.export``), run by ONNX Runtime (a failed export, e.g. SAFMN's adaptive pooling, in ``skipped``);
* ``openvino_fp32``, ``openvino_bf16``: converted by ``openvino.convert_model`` (the AIDNs by
  ``ov_runtime.convert_model``, as ``aidn upscale --backend openvino -m`` does; also from their ONNX files,
  ``openvino_*_onnx``), compiled with the package's settings, every network through one infer request;
* ``ort_int8``, the AIDNs only (``--no-int8`` leaves it out): what ``aidn export onnx --int8`` writes.

A runtime that is not installed is named in ``skipped``. Each path's output is compared with the network's
torch fp32 output. The JSON keeps every path (median, quartiles), each network's best (the table: also over
SAFMN's best), AIDN's and AIDN light's best over SAFMN's, SPAN's and its own torch fp32, AIDN's torch fp32
over SAFMN's; the CPU's model, flags and class (``AMX``, ``AVX-512 BF16``, ``AVX-512 VNNI`` or ``AVX2``) name
the report: ``<out-dir>/runtimes_<class>_<threads>t.json`` + ``.md``.

Options: ``--models`` (aidn_fused aidn_light safmn span ecbsr srvgg), ``--threads`` (2), ``--size WxH`` (output,
1280x720), ``--scale`` (4), ``--repeats`` (7), ``--warmup`` (2), ``--no-int8``, ``--out-dir`` (benchmarks).
"""
import contextlib
import functools
import os
import sys
import tempfile

import torch

import aidn_plugin  # noqa: F401  (compat layer before BasicSR's archs)
from aidn_plugin.archs.complexity import parse_size
from aidn_plugin.inference.precision import cpu_flags
from scripts.bench import peers
from scripts.bench.peers import in_layout
from scripts.bench.report_io import machine_info, ratio, write_json_atomic, write_text_atomic
from scripts.bench.timing import round_robin, summarize

DEFAULT_MODELS = ('aidn_fused', 'aidn_light', 'safmn', 'span', 'ecbsr', 'srvgg')
CPU_CLASSES = (('amx_bf16', 'AMX'), ('avx512_bf16', 'AVX-512 BF16'), ('avx512_vnni', 'AVX-512 VNNI'))


def cpu_class(flags):
    """The class of CPU the figures belong to: the most capable matrix instructions it has."""
    return next((label for flag, label in CPU_CLASSES if flag in flags), 'AVX2')


def torch_task(model, x, layout, bf16):
    """One forward pass of a copy of ``model`` in ``layout`` (the speed benchmark's), fp32 or under bf16
    autocast."""
    model, x = in_layout(model, x, layout)
    precision = torch.autocast('cpu', dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def run():
        with torch.no_grad(), precision:
            return model(x).float()
    return run


def export(name, model, x, path):
    """``model`` as an ONNX file at ``path`` (AIDN through the package's checked exporter)."""
    if name.startswith('aidn'):
        from aidn_plugin.inference.onnx_export import export_onnx
        export_onnx(model, path)
    else:
        with torch.no_grad():
            torch.onnx.export(model, (x, ), path, input_names=['input'], output_names=['output'], opset_version=17,
                              dynamo=False)


def runtime_tasks(name, model, x, folder, threads, skipped, int8=True):
    """{path: callable} of the ONNX Runtime and OpenVINO paths of one network (and AIDN's int8)."""
    tasks, onnx_path, array = {}, os.path.join(folder, f'{name}.onnx'), x.numpy()
    try:
        export(name, model, x, onnx_path)
    except Exception as error:  # the exporters raise many kinds; the reason is recorded, the path skipped
        skipped.append(f'{name}: ONNX export ({str(error).splitlines()[0][:160]})')
        onnx_path = None
    try:
        from aidn_plugin.inference import ort_runtime
        if onnx_path:
            session = ort_runtime.build_session(onnx_path, threads)
            tasks['ort_fp32'] = lambda: session.run(None, {session.get_inputs()[0].name: array})[0]
        if onnx_path and int8 and name.startswith('aidn'):
            from aidn_plugin.inference.onnx_quantize import default_calibration_images, quantize_int8, split_held_out
            int8_path = os.path.join(folder, f'{name}_int8.onnx')
            quantize_int8(onnx_path, int8_path, split_held_out(default_calibration_images())[0], model.upscale)
            int8_model = ort_runtime.load(int8_path, threads)
            tasks['ort_int8'] = lambda: int8_model.run(array)
    except ImportError as error:
        skipped.append(f'{name}: ONNX Runtime ({error})')
    try:
        import openvino

        from aidn_plugin.inference import ov_runtime
        graphs = {'': ov_runtime.convert_model(model) if name.startswith('aidn')  # as upscale -m converts it
                  else openvino.convert_model(model, example_input=x)}
        if onnx_path and name.startswith('aidn'):
            graphs['_onnx'] = openvino.Core().read_model(onnx_path)  # as --onnx FILE reads it
        for suffix, graph in graphs.items():
            for precision in ('fp32', 'bf16'):
                # every network through the same call: one infer request, its output array as it comes
                request = ov_runtime.compile_model(graph, threads, precision).create_infer_request()
                tasks[f'openvino_{precision}{suffix}'] = lambda request=request: request.infer({0: array})[0]
    except ImportError as error:
        skipped.append(f'{name}: OpenVINO ({error})')
    return tasks


def run_benchmark(models=DEFAULT_MODELS, threads=2, size=(1280, 720), scale=4, repeats=7, warmup=2, int8=True,
                  log=functools.partial(print, flush=True)):
    """Time every path of every network in ``models``; returns the report dict."""
    width, height = size
    torch.set_num_threads(threads)
    x = torch.rand(1, 3, height // scale, width // scale, generator=torch.Generator().manual_seed(0))
    flags = cpu_flags()
    report = {'meta': dict(machine_info(threads), cpu_class=cpu_class(flags)),
              'settings': {'output_size': [width, height], 'scale': scale, 'threads': threads, 'repeats': repeats,
                           'warmup': warmup}, 'skipped': [], 'models': {}}
    tasks = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in models:
            model = peers.build(name, scale)
            with torch.no_grad():
                reference = model(x)
            paths = {f'torch_{p}_{layout}': torch_task(model, x, layout, p == 'bf16')
                     for p in ('fp32', 'bf16') for layout in ('nchw', 'channels_last')}
            paths.update(runtime_tasks(name, model, x, folder, threads, report['skipped'], int8))
            report['models'][name] = {'config': peers.CONFIGS[name], 'params': peers.inference_params(name, model),
                                      'paths': {}}
            for path, task in paths.items():
                out = torch.as_tensor(task())
                report['models'][name]['paths'][path] = {'max_abs_diff': round(float((out - reference).abs().max()), 5)}
                tasks[f'{name}@{path}'] = task
            log(f'{name}: {len(paths)} paths')
        log(f'{len(tasks)} tasks, {repeats} interleaved rounds, {threads} threads')
        samples = round_robin(tasks, repeats, warmup)
    for key, values in samples.items():
        name, path = key.split('@')
        report['models'][name]['paths'][path]['latency'] = summarize(values)
    for entry in report['models'].values():
        entry['best'] = min(entry['paths'], key=lambda p: entry['paths'][p]['latency']['median_ms'])
    report['ratios'] = compare(report['models'])
    return report


def best_ms(entry):
    return entry['paths'][entry['best']]['latency']['median_ms']


def torch_fp32_ms(entry):
    """A network's PyTorch fp32 time at its better layout."""
    return min(entry['paths'][p]['latency']['median_ms'] for p in ('torch_fp32_nchw', 'torch_fp32_channels_last'))


def compare(models):
    """AIDN's best path (and AIDN light's) against SAFMN's best, SPAN's best and its own torch fp32 (better
    layout), and AIDN and SAFMN in PyTorch fp32 alone."""
    out = {}
    for name, prefix in (('aidn_fused', 'aidn'), ('aidn_light', 'aidn_light')):
        if name in models:
            out[f'{prefix}_best_over_own_torch_fp32'] = ratio(best_ms(models[name]), torch_fp32_ms(models[name]))
            out.update({f'{prefix}_best_over_{peer}_best': ratio(best_ms(models[name]), best_ms(models[peer]))
                        for peer in ('safmn', 'span') if peer in models})
    if 'aidn_fused' in models and 'safmn' in models:
        out['aidn_torch_fp32_over_safmn_torch_fp32'] = ratio(torch_fp32_ms(models['aidn_fused']),
                                                             torch_fp32_ms(models['safmn']))
    return out


def markdown(report):
    """Every network's paths (ms and ratio to the network's torch fp32 NCHW), its best in bold."""
    paths = list(dict.fromkeys(p for entry in report['models'].values() for p in entry['paths']))
    meta, settings = report['meta'], report['settings']
    width, height = settings['output_size']
    lines = [f'{meta["cpu"]} ({meta["cpu_class"]}), {settings["threads"]} thread{"s" * (settings["threads"] > 1)}, {meta["date"][:10]}; median ms '
             f'of {settings["repeats"]} interleaved runs, {width // settings["scale"]}x{height // settings["scale"]} '
             f'-> {width}x{height}', '',
             '| network | ' + ' | '.join(paths) + ' | best | x SAFMN best |', '|---|' + '---:|' * (len(paths) + 2)]
    safmn = report['models'].get('safmn')
    for entry in report['models'].values():
        cells = []
        for path in paths:
            ms = entry['paths'].get(path, {}).get('latency', {}).get('median_ms')
            cells.append('-' if ms is None else (f'**{ms:.0f}**' if path == entry['best'] else f'{ms:.0f}'))
        against = f'{best_ms(entry) / best_ms(safmn):.2f}' if safmn else '-'
        lines.append(f'| {entry["config"]} | ' + ' | '.join(cells) + f' | {entry["best"]} | {against} |')
    if report['ratios']:
        lines += ['', '| ratio | value |', '|---|---:|']
        lines += [f'| {key.replace("_", " ")} | {value:.3f} |' for key, value in report['ratios'].items()]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    from aidn_plugin.cli.errors import OneLineParser
    parser = OneLineParser(prog='python -m scripts.bench.runtimes', description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', default=list(DEFAULT_MODELS), choices=peers.PEERS)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--size', default='1280x720', help='output WxH')
    parser.add_argument('--scale', type=int, default=4)
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--no-int8', action='store_true', help="leave out AIDN's int8 path")
    parser.add_argument('--out-dir', default='benchmarks')
    args = parser.parse_args(argv)
    report = run_benchmark(args.models, args.threads, parse_size(args.size), args.scale, args.repeats, args.warmup,
                           not args.no_int8)
    slug = report['meta']['cpu_class'].lower().replace(' ', '').replace('-', '')
    base = os.path.join(args.out_dir, f'runtimes_{slug}_{args.threads}t')
    write_json_atomic(base + '.json', report)
    write_text_atomic(base + '.md', markdown(report))
    print(markdown(report))
    print(f'wrote {base}.json and {base}.md')
    return 0


if __name__ == '__main__':
    sys.exit(main())
