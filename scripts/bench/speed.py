"""Speed and complexity of AIDN against its peers on the CPU, every figure also as a ratio to SAFMN.

    python -m scripts.bench.speed                          # the benchmarks page's run: all peers, 1 and 2 threads
    python -m scripts.bench.speed --threads 2 --repeats 9 --out-dir /tmp/bench

For each network of ``scripts/bench/peers.py`` (AIDN unfused and fused, SAFMN, SPAN, ECBSR, SRVGGNetCompact,
bicubic) it measures, in one process and on the same inputs:

* parameters (inference form), MACs and activations for a ``--size`` output (``mmengine.analysis`` through
  ``aidn_plugin.archs.complexity.count_complexity``);
* latency of one forward pass ``--size / scale`` -> ``--size`` under ``torch.no_grad``, at every thread count
  of ``--threads`` and in **both memory layouts**: NCHW (input and weights contiguous) and channels-last
  (input and weights ``torch.channels_last``). Median of ``--repeats`` runs after ``--warmup`` runs, every
  (network, layout) interleaved round-robin (the starting task rotates every round) so that all see the same
  machine load. Each network is reported at its better layout; both are kept in the JSON. Every network gets
  the same favours: its inference form (fused AIDN, SPAN's and ECBSR's re-parameterised convolutions), the
  better of the two layouts, the same backend (PyTorch eager);
* the achieved MAC/s (MACs / median latency), next to the MAC/s of a dense ``--matmul-size`` square matrix
  multiply and of a plain 3x3 convolution at 36 channels (NCHW and channels-last), timed in the same
  round-robin at the same thread count;
* peak memory of that forward pass (at the better layout of the last thread count): the high-water mark of
  the bytes allocated during it (torch.profiler allocation events), output included, weights and input
  excluded;
* one training step (forward, L1 loss, backward, Adam step) at ``--train-batch`` LR patches of
  ``--train-patch`` pixels, training form, in both layouts, interleaved, at the last thread count. Each step
  includes what the network needs per batch: AIDN's edge map is computed from the batch inside the timed
  step (``edge_step_ms`` times that edge map alone). Bicubic and the fused AIDN are not trained;
* a torch.profiler breakdown of the fused AIDN forward pass, at its better layout, by operator
  (``--profile-rows``).

Every figure is also divided by SAFMN's (at SAFMN's better layout) from the same run. Absolute times on a
shared machine are noise; the ratios are the result. Output: ``<out-dir>/speed.json`` and
``<out-dir>/speed.md`` (written atomically).

Options: ``--models`` (comma list, default all; SAFMN is always added: it is the reference), ``--threads``
(comma list of torch.set_num_threads values, default ``1,2``; the last one is the headline), ``--size WxH``
(output, default 1280x720), ``--scale`` (4), ``--repeats`` (latency runs per task, default 7, at least 1),
``--warmup`` (2), ``--train-batch`` (16), ``--train-patch`` (48), ``--train-repeats`` (7), ``--matmul-size``
(2048), ``--no-train``, ``--no-memory``, ``--no-profile``, ``--profile-rows`` (12), ``--out-dir`` (benchmarks).

Other runtimes and precisions (ONNX Runtime, OpenVINO, bf16, int8) for every network: ``scripts/bench/runtimes.py``.
"""
import copy
import functools
import os
import sys

import torch
import torch.nn.functional as F

import aidn_plugin  # noqa: F401  (compat layer before BasicSR's archs)
from aidn_plugin.archs.complexity import count_complexity, parse_size
from aidn_plugin.cli.errors import OneLineParser, fail
from scripts.bench import peers
from scripts.bench.report_io import machine_info, ratio, write_json_atomic, write_text_atomic
from scripts.bench.timing import round_robin, summarize

REFERENCE = 'safmn'
TRAINABLE = ('aidn', 'safmn', 'span', 'ecbsr', 'srvgg')


LAYOUTS = ('nchw', 'channels_last')


def in_layout(model, x, layout):
    """A copy of ``model`` and ``x`` in ``layout`` (``nchw``: contiguous; ``channels_last``: weights and
    input in torch.channels_last). The original model is left as it is."""
    model = copy.deepcopy(model)
    if layout == 'channels_last':
        return model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    return model.to(memory_format=torch.contiguous_format), x.contiguous()


def forward_task(model, x):
    def run():
        with torch.no_grad():
            model(x)
    return run


def train_task(name, scale, batch, patch, layout='nchw', seed=0):
    """A callable doing one training step of a fresh ``name`` network on fixed random patches in ``layout``.

    Everything the network needs per batch happens inside the step: AIDN's edge map is computed from the
    batch there (in training it comes from the data loader's workers, so this charges AIDN more than
    training does)."""
    generator = torch.Generator().manual_seed(seed)
    lq = torch.rand(batch, 3, patch, patch, generator=generator)
    gt = torch.rand(batch, 3, patch * scale, patch * scale, generator=generator)
    model, lq = in_layout(peers.build(name, scale).train(), lq, layout)
    gt = gt.contiguous(memory_format=torch.channels_last) if layout == 'channels_last' else gt
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    edge_of = None
    if name == 'aidn':
        from aidn_plugin.edges import edge_map
        edge_of = functools.partial(edge_map, operator=model.edge_operator)

    def run():
        optimizer.zero_grad(set_to_none=True)
        extra = (edge_of(lq), ) if edge_of else ()
        F.l1_loss(model(lq, *extra), gt).backward()
        optimizer.step()
    return run


def edge_task(batch, patch, seed=0):
    """The edge map of one training batch alone (what AIDN's training step adds over a plain network's)."""
    from aidn_plugin.edges import edge_map
    lq = torch.rand(batch, 3, patch, patch, generator=torch.Generator().manual_seed(seed))
    return lambda: edge_map(lq)


def matmul_task(n):
    a, b, out = torch.rand(n, n), torch.rand(n, n), torch.empty(n, n)
    return lambda: torch.mm(a, b, out=out)


def conv_task(channels, height, width, channels_last):
    x = torch.rand(1, channels, height, width)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight, bias = torch.rand(channels, channels, 3, 3), torch.rand(channels)

    def run():
        with torch.no_grad():
            F.conv2d(x, weight, bias, padding=1)
    return run


# ------------------------------------------------------------------------------------- memory, profile
def _allocation_events(prof):
    from torch._C._profiler import _EventType
    events, stack = [], list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        event = stack.pop()
        stack.extend(event.children)
        if event.tag == _EventType.Allocation:
            events.append((event.start_time_ns, event.extra_fields.alloc_size))
    return sorted(events)


def peak_forward_memory(model, x):
    """Peak bytes allocated during one ``model(x)`` under no_grad (output included), from the profiler's
    allocation and free events in time order."""
    from torch.profiler import ProfilerActivity, profile
    with torch.no_grad():
        model(x)
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            out = model(x)
    del out
    current = peak = 0
    for _, size in _allocation_events(prof):
        current += size
        peak = max(peak, current)
    return peak


def profile_forward(model, x, rows=12, runs=3):
    """Self CPU time per operator of one forward pass (the quickest of ``runs`` profiled passes).

    Returns {'total_ms', 'rows': [{'op', 'self_ms', 'share', 'calls'}...]} sorted by time.
    """
    from torch.profiler import ProfilerActivity, profile
    best = None
    with torch.no_grad():
        model(x)
        for _ in range(runs):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                model(x)
            averages = prof.key_averages()
            total = sum(e.self_cpu_time_total for e in averages)
            if best is None or total < best[0]:
                best = (total, averages)
    total, averages = best
    ordered = sorted(averages, key=lambda e: -e.self_cpu_time_total)
    table = [{'op': e.key, 'self_ms': round(e.self_cpu_time_total / 1e3, 2),
              'share': round(e.self_cpu_time_total / total, 4), 'calls': e.count} for e in ordered[:rows]]
    return {'total_ms': round(total / 1e3, 2), 'rows': table}


# ------------------------------------------------------------------------------------------------ run
def run_benchmark(models, threads=(1, 2), size=(1280, 720), scale=4, repeats=7, warmup=2, train_batch=16,
                  train_patch=48, train_repeats=7, matmul_size=2048, train=True, memory=True, profile=True,
                  profile_rows=12, log=print):
    """Measure ``models`` (names of ``peers.PEERS``; SAFMN is added) at each thread count of ``threads`` (an
    int or a sequence; the last is the headline) and return the report dict."""
    unknown = [m for m in models if m not in peers.PEERS]
    if unknown:
        raise ValueError(f'unknown network {unknown[0]!r}; expected names from: {", ".join(peers.PEERS)}')
    models = list(dict.fromkeys([REFERENCE] + list(models)))
    threads = [threads] if isinstance(threads, int) else list(dict.fromkeys(threads))
    main_threads = threads[-1]
    width, height = size
    if width % scale or height % scale:
        raise ValueError(f'output size {width}x{height} is not a multiple of the scale {scale}')
    report = {'meta': machine_info(main_threads), 'settings': {
        'output_size': [width, height], 'scale': scale, 'repeats': repeats, 'warmup': warmup,
        'threads': threads, 'layouts': list(LAYOUTS),
        'train_batch': train_batch, 'train_patch': train_patch, 'train_repeats': train_repeats,
        'matmul_size': matmul_size,
        'inference': 'torch.no_grad, float32, PyTorch eager; inference forms; each network in NCHW and '
                     'channels-last (input and weights), reported at its better layout'}}
    lr_h, lr_w = height // scale, width // scale
    x = torch.rand(1, 3, lr_h, lr_w, generator=torch.Generator().manual_seed(0))

    nets = {name: peers.build(name, scale) for name in models}
    results = {}
    for name, net in nets.items():
        stats = count_complexity(net, (width, height), scale)
        results[name] = {'config': peers.CONFIGS[name], 'params': peers.inference_params(name, net),
                         'training_params': peers.training_params(net), 'macs': stats['macs'],
                         'activations': stats['activations'], 'by_threads': {}}
        log(f'{name:<11} {results[name]["params"]:>9,} params  {stats["macs"] / 1e9:7.2f} G MACs')
    placed = {(name, layout): in_layout(net, x, layout) for name, net in nets.items() for layout in LAYOUTS}

    report['reference'] = {}
    ref_macs = {'matmul': matmul_size ** 3, 'conv3x3_36_nchw': 36 * 36 * 9 * lr_h * lr_w,
                'conv3x3_36_channels_last': 36 * 36 * 9 * lr_h * lr_w}
    for count in threads:
        torch.set_num_threads(count)
        log(f'torch.set_num_threads({count}); torch {torch.__version__}; {torch.get_num_threads()} threads in use')
        tasks = {f'{name}@{layout}': forward_task(*placed[name, layout]) for name, layout in placed}
        tasks.update({'ref:matmul': matmul_task(matmul_size),
                      'ref:conv3x3_36_nchw': conv_task(36, lr_h, lr_w, False),
                      'ref:conv3x3_36_channels_last': conv_task(36, lr_h, lr_w, True)})
        log(f'latency: {repeats} interleaved runs of {len(tasks)} tasks ({lr_w}x{lr_h} -> {width}x{height})')
        samples = round_robin(tasks, repeats, warmup)
        reference = {}
        for key, macs in ref_macs.items():
            summary = summarize(samples[f'ref:{key}'])
            reference[key] = dict(summary, macs=macs, gmacs_per_s=round(macs / summary['median_ms'] / 1e6, 2))
        matmul_rate = ref_macs['matmul'] / reference['matmul']['median_ms'] / 1e6  # unrounded
        report['reference'][str(count)] = reference
        for name in models:
            layouts = {layout: summarize(samples[f'{name}@{layout}']) for layout in LAYOUTS}
            best = min(LAYOUTS, key=lambda layout: layouts[layout]['median_ms'])
            entry = {'layouts': layouts, 'layout': best, 'latency': layouts[best]}
            macs = results[name]['macs']
            rate = macs / layouts[best]['median_ms'] / 1e6 if macs else None
            entry['gmacs_per_s'] = round(rate, 2) if rate else None
            entry['matmul_fraction'] = round(rate / matmul_rate, 3) if rate else None
            results[name]['by_threads'][str(count)] = entry
    # the headline figures: the last thread count, each network at its better layout
    for entry in results.values():
        entry.update({k: entry['by_threads'][str(main_threads)][k]
                      for k in ('layout', 'latency', 'gmacs_per_s', 'matmul_fraction')})

    if memory:
        for name in models:
            peak = peak_forward_memory(*placed[name, results[name]['layout']])
            results[name]['peak_memory_bytes'] = peak
            results[name]['peak_memory_mb'] = round(peak / 2 ** 20, 2)
    if train:
        trainable = [name for name in models if name in TRAINABLE]
        train_tasks = {f'{name}@{layout}': train_task(name, scale, train_batch, train_patch, layout)
                       for name in trainable for layout in LAYOUTS}
        train_tasks['edge_map'] = edge_task(train_batch, train_patch)
        log(f'training step: {train_repeats} interleaved runs of {len(train_tasks)} tasks '
            f'(batch {train_batch}, {train_patch}x{train_patch} LR, {main_threads} threads)')
        train_samples = round_robin(train_tasks, train_repeats, warmup)
        for name in trainable:
            layouts = {layout: summarize(train_samples[f'{name}@{layout}']) for layout in LAYOUTS}
            best = min(LAYOUTS, key=lambda layout: layouts[layout]['median_ms'])
            results[name]['train_step'] = dict(layouts[best], layout=best)
            results[name]['train_step_layouts'] = layouts
        if 'aidn' in results:
            results['aidn']['edge_step_ms'] = summarize(train_samples['edge_map'])['median_ms']

    ref = results[REFERENCE]
    for entry in results.values():
        entry['ratios'] = {
            'params': ratio(entry['params'], ref['params']),
            'macs': ratio(entry['macs'], ref['macs']),
            'latency': ratio(entry['latency']['median_ms'], ref['latency']['median_ms']),
            'latency_by_threads': {count: ratio(entry['by_threads'][count]['latency']['median_ms'],
                                                ref['by_threads'][count]['latency']['median_ms'])
                                   for count in entry['by_threads']},
            'peak_memory': ratio(entry.get('peak_memory_bytes'), ref.get('peak_memory_bytes')),
            'train_step': ratio(entry.get('train_step', {}).get('median_ms'), ref.get('train_step', {}).get('median_ms')),
        }
    report['models'] = results
    if profile and 'aidn_fused' in nets:
        torch.set_num_threads(main_threads)
        report['profile'] = dict(model='aidn_fused', layout=results['aidn_fused']['layout'],
                                 **profile_forward(*placed['aidn_fused', results['aidn_fused']['layout']],
                                                   profile_rows))
    load = os.getloadavg() if hasattr(os, 'getloadavg') else None
    report['meta']['load_average_end'] = [round(v, 2) for v in load] if load else None
    return report


# ---------------------------------------------------------------------------------------------- report
def _fmt(value, pattern, missing='-'):
    return missing if value is None else format(value, pattern)


LAYOUT_NAMES = {'nchw': 'NCHW', 'channels_last': 'CL'}


def markdown(report):
    """The Markdown tables (latency per thread count and layout, reference, profile) of a report."""
    meta, settings = report['meta'], report['settings']
    width, height = settings['output_size']
    threads = [str(t) for t in settings['threads']]
    main = threads[-1]
    lines = [
        f'Measured {meta["date"]} on {meta["cpu"]} ({meta["logical_cores"]} logical cores, '
        f'load average {meta["load_average_start"]} at start, {meta["load_average_end"]} at end), '
        f'torch {meta["torch"]}, **{", ".join(threads)} threads** (headline: {main}). x{settings["scale"]}, '
        f'{width // settings["scale"]}x{height // settings["scale"]} -> {width}x{height}, float32, PyTorch eager, '
        f'inference forms. Every network timed in NCHW and channels-last (CL: input and weights) and shown at '
        f'its better layout. Latency: median of {settings["repeats"]} interleaved runs'
        + (f'; training step: batch {settings["train_batch"]}, {settings["train_patch"]}x{settings["train_patch"]} LR, '
           f'median of {settings["train_repeats"]}, better layout, AIDN\'s edge map computed inside the step'
           if any('train_step' in e for e in report['models'].values()) else '')
        + '. "x SAFMN" = ratio to SAFMN at its better layout in the same run.', '']
    header = ['network', 'params', 'MACs']
    for count in threads:
        header += [f'NCHW / CL ms, {count} thread{"s" if count != "1" else ""}', 'x SAFMN']
    header += ['G MAC/s', 'of matmul', 'peak MB', 'x SAFMN', 'train step ms', 'x SAFMN']
    lines += ['| ' + ' | '.join(header) + ' |', '|---|' + '---:|' * (len(header) - 1)]
    for name, entry in report['models'].items():
        r = entry['ratios']
        params = f'{entry["params"] / 1e3:.0f}K' if entry['params'] else '0'
        if entry['training_params'] != entry['params']:
            params += f' ({entry["training_params"] / 1e3:.0f}K train)'
        cells = [entry['config'], params, f'{entry["macs"] / 1e9:.2f} G']
        for count in threads:
            by = entry['by_threads'][count]
            times = {layout: f'{by["layouts"][layout]["median_ms"]:.0f}' for layout in LAYOUTS}
            times[by['layout']] = f'**{times[by["layout"]]}**'  # the better layout, the one compared
            cells += [f'{times["nchw"]} / {times["channels_last"]}', _fmt(r['latency_by_threads'][count], '.2f')]
        fraction = entry['matmul_fraction']
        step = entry.get('train_step', {})
        cells += [_fmt(entry['gmacs_per_s'], '.1f'), _fmt(fraction and fraction * 100, '.0f') + ('%' if fraction else ''),
                  _fmt(entry.get('peak_memory_mb'), '.1f'), _fmt(r['peak_memory'], '.2f'),
                  _fmt(step.get('median_ms'), '.0f') + (f' ({LAYOUT_NAMES[step["layout"]]})' if step else ''),
                  _fmt(r['train_step'], '.2f')]
        lines.append('| ' + ' | '.join(cells) + ' |')
    aidn = report['models'].get('aidn', {})
    if aidn.get('edge_step_ms') is not None:
        lines += ['', f'AIDN\'s edge map of one training batch alone: {aidn["edge_step_ms"]:.1f} ms '
                  f'({aidn["edge_step_ms"] / aidn["train_step"]["median_ms"] * 100:.1f}% of its training step).']
    lines += ['', 'Same run, for scale (G MAC/s): ' + '; '.join(
        f'{count} thread(s): dense {settings["matmul_size"]}x{settings["matmul_size"]} matrix multiply '
        f'{ref["matmul"]["gmacs_per_s"]:.1f}, one 3x3 convolution at 36 channels {ref["conv3x3_36_nchw"]["gmacs_per_s"]:.1f} '
        f'NCHW / {ref["conv3x3_36_channels_last"]["gmacs_per_s"]:.1f} CL'
        for count, ref in report['reference'].items()) + '.']
    if report.get('profile'):
        prof = report['profile']
        lines += ['', f'Where the time goes: torch.profiler, fused AIDN forward pass ({LAYOUT_NAMES[prof["layout"]]}, '
                  f'{main} threads), self CPU time (total {prof["total_ms"]:.0f} ms under the profiler):', '',
                  '| operator | self ms | share | calls |', '|---|---:|---:|---:|']
        for row in prof['rows']:
            lines.append(f'| `{row["op"]}` | {row["self_ms"]:.1f} | {row["share"] * 100:.1f}% | {row["calls"]} |')
    return '\n'.join(lines) + '\n'


def parse_args(argv):
    parser = OneLineParser(prog='python -m scripts.bench.speed', description=__doc__.splitlines()[0])
    parser.add_argument('--models', default=','.join(peers.PEERS),
                        help=f'comma-separated networks from {", ".join(peers.PEERS)} (SAFMN is always added)')
    parser.add_argument('--threads', default='1,2',
                        help='comma-separated torch.set_num_threads values; the last is the headline (default 1,2)')
    parser.add_argument('--size', default='1280x720', help='output size WxH (default 1280x720)')
    parser.add_argument('--scale', type=int, default=4, choices=(2, 3, 4))
    parser.add_argument('--repeats', type=int, default=7, help='timed forward passes per network (default 7)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed runs per task first (default 2)')
    parser.add_argument('--train-batch', type=int, default=16)
    parser.add_argument('--train-patch', type=int, default=48, help='LR patch size of the training step')
    parser.add_argument('--train-repeats', type=int, default=7)
    parser.add_argument('--matmul-size', type=int, default=2048)
    parser.add_argument('--no-train', action='store_true', help='skip the training step')
    parser.add_argument('--no-memory', action='store_true', help='skip the peak memory measurement')
    parser.add_argument('--no-profile', action='store_true', help='skip the torch.profiler breakdown')
    parser.add_argument('--profile-rows', type=int, default=12)
    parser.add_argument('--out-dir', default='benchmarks', help='where speed.json and speed.md go')
    args = parser.parse_args(argv)
    try:
        args.threads = [int(t) for t in args.threads.split(',') if t.strip()]
    except ValueError:
        parser.error(f'--threads: expected comma-separated whole numbers, got {args.threads!r}')
    if not args.threads or min(args.threads) < 1:
        parser.error(f'--threads must list thread counts of at least 1, got {args.threads}')
    for key in ('repeats', 'train_batch', 'train_patch', 'train_repeats', 'matmul_size', 'profile_rows'):
        if getattr(args, key) < 1:
            parser.error(f'--{key.replace("_", "-")} must be at least 1, got {getattr(args, key)}')
    if args.warmup < 0:
        parser.error(f'--warmup must be 0 or more, got {args.warmup}')
    try:
        args.size = parse_size(args.size)
    except ValueError as error:
        parser.error(f'--size: {error}')
    args.models = [m.strip() for m in args.models.split(',') if m.strip()]
    unknown = [m for m in args.models if m not in peers.PEERS]
    if unknown:
        parser.error(f'--models: unknown network {unknown[0]!r} (expected names from: {", ".join(peers.PEERS)})')
    if args.size[0] % args.scale or args.size[1] % args.scale:
        parser.error(f'--size {args.size[0]}x{args.size[1]} is not a multiple of --scale {args.scale}')
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    report = run_benchmark(args.models, threads=args.threads, size=args.size, scale=args.scale,
                           repeats=args.repeats, warmup=args.warmup, train_batch=args.train_batch,
                           train_patch=args.train_patch, train_repeats=args.train_repeats,
                           matmul_size=args.matmul_size, train=not args.no_train, memory=not args.no_memory,
                           profile=not args.no_profile, profile_rows=args.profile_rows)
    table = markdown(report)
    try:
        write_json_atomic(os.path.join(args.out_dir, 'speed.json'), report)
        write_text_atomic(os.path.join(args.out_dir, 'speed.md'), table)
    except OSError as error:
        fail(f'scripts.bench.speed: error: cannot write to --out-dir {args.out_dir}: {error}')
    print(table)
    print(f'wrote {os.path.join(args.out_dir, "speed.json")} and speed.md')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
