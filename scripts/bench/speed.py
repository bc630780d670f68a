"""Size, memory and training speed of AIDN against its peers on the CPU, every figure also as a ratio to SAFMN.

    python -m scripts.bench.speed                          # the benchmarks page's run (alone on the machine)
    python -m scripts.bench.speed --threads 1 --train-repeats 9 --out-dir /tmp/bench

For each network of ``scripts/bench/peers.py``, in one process, on the same inputs: parameters (inference
and training form), MACs and activations of a ``--size`` output (``aidn_plugin.archs.complexity``); peak
memory of one forward pass under ``torch.no_grad`` (the high-water mark of the bytes allocated during it,
from torch.profiler's allocation events; output included, weights and input not), the smaller of NCHW and
channels-last; one training step (forward, L1, backward, Adam) of ``--train-batch`` LR patches of
``--train-patch`` pixels, training form, both layouts interleaved (``scripts/bench/timing.py``), median of
``--train-repeats`` after ``--warmup``, each network at its better layout. AIDN's edge map is computed
inside its step (``edge_step_ms`` times it alone); bicubic and ``aidn_fused`` are not trained (AIDN light
is, unfused). Ratios are to SAFMN in the same run. Latency, in every runtime, precision and layout:
``scripts/bench/runtimes.py``. Output: ``<out-dir>/speed.json`` and ``speed.md`` (atomically).

Options: ``--models`` (default all; SAFMN is always added: it is the reference), ``--threads`` (torch
threads, 2), ``--size WxH`` (output, 1280x720), ``--scale`` (4), ``--warmup`` (2), ``--train-batch`` (16),
``--train-patch`` (48), ``--train-repeats`` (7), ``--no-train``, ``--out-dir`` (benchmarks).
"""
import functools
import sys

import torch
import torch.nn.functional as F

import aidn_plugin  # noqa: F401  (compat layer before BasicSR's archs)
from aidn_plugin.archs.complexity import count_complexity, parse_size
from aidn_plugin.cli.errors import OneLineParser, fail
from scripts.bench import peers
from scripts.bench.peers import LAYOUTS, in_layout
from scripts.bench.report_io import machine_info, ratio, write_json_atomic, write_text_atomic
from scripts.bench.timing import round_robin, summarize

REFERENCE = 'safmn'
TRAINABLE = ('aidn', 'aidn_light', 'safmn', 'span', 'ecbsr', 'srvgg')


def train_task(name, scale, batch, patch, layout='nchw', seed=0):
    """A callable doing one training step of a fresh ``name`` network on fixed random patches in ``layout``.

    AIDN's edge map is computed from the batch inside the step (in training the loader's workers compute
    it, so this charges AIDN more than training does)."""
    generator = torch.Generator().manual_seed(seed)
    lq = torch.rand(batch, 3, patch, patch, generator=generator)
    gt = torch.rand(batch, 3, patch * scale, patch * scale, generator=generator)
    model, lq = in_layout(peers.build(name, scale, training_form=True).train(), lq, layout)
    gt = gt.contiguous(memory_format=torch.channels_last) if layout == 'channels_last' else gt
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    edge_of = None
    if name.startswith('aidn'):
        from aidn_plugin.edges import edge_map
        edge_of = functools.partial(edge_map, operator=model.edge_operator)

    def run():
        optimizer.zero_grad(set_to_none=True)
        extra = (edge_of(lq), ) if edge_of else ()
        F.l1_loss(model(lq, *extra), gt).backward()
        optimizer.step()
    return run


def peak_forward_memory(model, x):
    """Peak bytes allocated during one ``model(x)`` under no_grad (output included), from the profiler's
    allocation and free events in time order."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile
    with torch.no_grad():
        model(x)
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            out = model(x)
    del out
    events, stack = [], list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        event = stack.pop()
        stack.extend(event.children)
        if event.tag == _EventType.Allocation:
            events.append((event.start_time_ns, event.extra_fields.alloc_size))
    current = peak = 0
    for _, size in sorted(events):
        current += size
        peak = max(peak, current)
    return peak


def run_benchmark(models, threads=2, size=(1280, 720), scale=4, warmup=2, train_batch=16, train_patch=48,
                  train_repeats=7, train=True, log=print):
    """Measure ``models`` (names of ``peers.PEERS``; SAFMN is added) at ``threads`` torch threads; returns
    the report dict."""
    unknown = [m for m in models if m not in peers.PEERS]
    if unknown:
        raise ValueError(f'unknown network {unknown[0]!r}; expected names from: {", ".join(peers.PEERS)}')
    models = list(dict.fromkeys([REFERENCE] + list(models)))
    width, height = size
    if width % scale or height % scale:
        raise ValueError(f'output size {width}x{height} is not a multiple of the scale {scale}')
    torch.set_num_threads(threads)
    report = {'meta': machine_info(threads), 'settings': {
        'output_size': [width, height], 'scale': scale, 'warmup': warmup, 'threads': threads,
        'train_batch': train_batch, 'train_patch': train_patch, 'train_repeats': train_repeats}}
    x = torch.rand(1, 3, height // scale, width // scale, generator=torch.Generator().manual_seed(0))
    results = {}
    for name in models:
        net = peers.build(name, scale)
        stats = count_complexity(net, (width, height), scale)
        peaks = {layout: peak_forward_memory(*in_layout(net, x, layout)) for layout in LAYOUTS}
        layout = min(LAYOUTS, key=peaks.get)
        results[name] = {'config': peers.CONFIGS[name], 'params': peers.inference_params(name, net),
                         'training_params': peers.training_params(peers.build(name, scale, training_form=True)),
                         'macs': stats['macs'], 'activations': stats['activations'], 'peak_memory_bytes': peaks[layout],
                         'peak_memory_mb': round(peaks[layout] / 2 ** 20, 2), 'peak_memory_layout': layout}
        log(f'{name:<11} {results[name]["params"]:>9,} params  {stats["macs"] / 1e9:7.2f} G MACs  '
            f'{results[name]["peak_memory_mb"]:8.1f} MB')
    if train:
        trainable = [name for name in models if name in TRAINABLE]
        tasks = {f'{name}@{layout}': train_task(name, scale, train_batch, train_patch, layout)
                 for name in trainable for layout in LAYOUTS}
        if 'aidn' in trainable:
            from aidn_plugin.edges import edge_map
            lq = torch.rand(train_batch, 3, train_patch, train_patch, generator=torch.Generator().manual_seed(0))
            tasks['edge_map'] = functools.partial(edge_map, lq)
        log(f'training step: {train_repeats} interleaved runs of {len(tasks)} tasks '
            f'(batch {train_batch}, {train_patch}x{train_patch} LR, {threads} threads)')
        samples = round_robin(tasks, train_repeats, warmup)
        for name in trainable:
            layouts = {layout: summarize(samples[f'{name}@{layout}']) for layout in LAYOUTS}
            best = min(LAYOUTS, key=lambda layout: layouts[layout]['median_ms'])
            results[name].update(train_step=dict(layouts[best], layout=best), train_step_layouts=layouts)
        if 'aidn' in trainable:
            results['aidn']['edge_step_ms'] = summarize(samples['edge_map'])['median_ms']
    ref = results[REFERENCE]
    for entry in results.values():
        entry['ratios'] = {
            'params': ratio(entry['params'], ref['params']), 'macs': ratio(entry['macs'], ref['macs']),
            'peak_memory': ratio(entry['peak_memory_bytes'], ref['peak_memory_bytes']),
            'train_step': ratio(entry.get('train_step', {}).get('median_ms'), ref.get('train_step', {}).get('median_ms'))}
    report['models'] = results
    return report


def _fmt(value, pattern, reference=1):
    return '-' if value is None or not reference else format(value / reference, pattern)


def markdown(report):
    """The Markdown table (size, memory, training step; ratios to SAFMN) of a report."""
    meta, settings = report['meta'], report['settings']
    width, height = settings['output_size']
    trained = any('train_step' in e for e in report['models'].values())
    lines = [f'Measured {meta["date"]} on {meta["cpu"]} ({meta["logical_cores"]} logical cores, load average '
             f'{meta["load_average_start"]} at start), torch {meta["torch"]}, {settings["threads"]} thread{"s" * (settings["threads"] != 1)}. MACs and '
             f'peak memory of one x{settings["scale"]} forward pass {width // settings["scale"]}x'
             f'{height // settings["scale"]} -> {width}x{height} (float32, inference forms, the smaller of NCHW and '
             f'channels-last)'
             + (f'; training step: batch {settings["train_batch"]}, {settings["train_patch"]}x{settings["train_patch"]}'
                f' LR, median of {settings["train_repeats"]} interleaved runs, better layout, AIDN\'s edge map computed '
                f'inside the step' if trained else '')
             + '. "x SAFMN" = ratio to SAFMN in the same run.', '',
             '| network | params | MACs | x SAFMN | peak MB | x SAFMN | train step ms | x SAFMN |',
             '|---|---:|---:|---:|---:|---:|---:|---:|']
    ref = report['models'][REFERENCE]  # ratios from the raw figures: the report's are rounded to 3 digits already
    for entry in report['models'].values():
        step, ref_step = entry.get('train_step', {}), ref.get('train_step', {})
        params = f'{entry["params"] / 1e3:.0f}K' if entry['params'] else '0'
        if entry['training_params'] != entry['params']:
            params += f' ({entry["training_params"] / 1e3:.0f}K train)'
        layout = {'nchw': ' (NCHW)', 'channels_last': ' (CL)'}.get(step.get('layout'), '')
        cells = [entry['config'], params, f'{entry["macs"] / 1e9:.2f} G', _fmt(entry['macs'], '.2f', ref['macs']),
                 f'{entry["peak_memory_mb"]:.1f}', _fmt(entry['peak_memory_bytes'], '.2f', ref['peak_memory_bytes']),
                 _fmt(step.get('median_ms'), '.0f') + layout, _fmt(step.get('median_ms'), '.2f', ref_step.get('median_ms'))]
        lines.append('| ' + ' | '.join(cells) + ' |')
    aidn = report['models'].get('aidn', {})
    if aidn.get('edge_step_ms') is not None:
        lines += ['', f'AIDN\'s edge map of one training batch alone: {aidn["edge_step_ms"]:.1f} ms '
                  f'({aidn["edge_step_ms"] / aidn["train_step"]["median_ms"] * 100:.1f}% of its training step).']
    return '\n'.join(lines) + '\n'


def parse_args(argv):
    parser = OneLineParser(prog='python -m scripts.bench.speed', description=__doc__.splitlines()[0])
    parser.add_argument('--models', nargs='+', default=list(peers.PEERS), choices=peers.PEERS,
                        help='networks to measure (SAFMN is always added)')
    parser.add_argument('--size', default='1280x720', help='output size WxH (default 1280x720)')
    parser.add_argument('--scale', type=int, default=4, choices=(2, 3, 4))
    for flag, default in (('--threads', 2), ('--warmup', 2), ('--train-batch', 16), ('--train-patch', 48),
                          ('--train-repeats', 7)):
        parser.add_argument(flag, type=int, default=default)
    parser.add_argument('--no-train', action='store_true', help='skip the training step')
    parser.add_argument('--out-dir', default='benchmarks', help='where speed.json and speed.md go')
    args = parser.parse_args(argv)
    for key in ('threads', 'train_batch', 'train_patch', 'train_repeats'):
        if getattr(args, key) < 1:
            parser.error(f'--{key.replace("_", "-")} must be at least 1, got {getattr(args, key)}')
    if args.warmup < 0:
        parser.error(f'--warmup must be 0 or more, got {args.warmup}')
    try:
        args.size = parse_size(args.size)
    except ValueError as error:
        parser.error(f'--size: {error}')
    if args.size[0] % args.scale or args.size[1] % args.scale:
        parser.error(f'--size {args.size[0]}x{args.size[1]} is not a multiple of --scale {args.scale}')
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    report = run_benchmark(args.models, threads=args.threads, size=args.size, scale=args.scale, warmup=args.warmup,
                           train_batch=args.train_batch, train_patch=args.train_patch,
                           train_repeats=args.train_repeats, train=not args.no_train)
    table = markdown(report)
    try:
        write_json_atomic(f'{args.out_dir}/speed.json', report)
        write_text_atomic(f'{args.out_dir}/speed.md', table)
    except OSError as error:
        fail(f'scripts.bench.speed: error: cannot write to --out-dir {args.out_dir}: {error}')
    print(table)
    print(f'wrote {args.out_dir}/speed.json and speed.md')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
