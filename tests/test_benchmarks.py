"""The benchmarks' building blocks (scripts/bench/: peers, speed, quality, plot) on tiny inputs: real networks, real profiler, real ``basicsr train/test`` runs."""
import copy
import json
import math
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from helpers import call_main, run, write_photo_crops, write_tiny_test_set

from scripts.bench import peers
from scripts.bench import plot as plot_benchmarks
from scripts.bench import quality as benchmark_quality
from scripts.bench import speed as benchmark_speed
from scripts.bench import timing

REPO = Path(__file__).resolve().parents[1]

TINY_SPEED = dict(size=(64, 32), scale=4, warmup=1, train_batch=2, train_patch=8, train_repeats=2,
                  log=lambda *a: None)


@pytest.fixture(autouse=True)
def _keep_thread_count():
    """The benchmarks set torch's thread count for the process; give the other tests theirs back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def tiny_speed_report():
    """A real benchmark_speed run on a 16x8 -> 64x32 input (SAFMN, fused AIDN, training-form AIDN, bicubic)."""
    threads = torch.get_num_threads()
    try:
        return benchmark_speed.run_benchmark(['aidn', 'aidn_fused', 'bicubic'], threads=1, **TINY_SPEED)
    finally:
        torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------------------- peers
@pytest.mark.parametrize('name', peers.PEERS)
@pytest.mark.parametrize('scale', [2, 4])
def test_every_peer_builds_and_upscales(name, scale):
    net = peers.build(name, scale)
    assert not net.training
    with torch.no_grad():
        assert net(torch.rand(1, 3, 8, 12)).shape == (1, 3, 8 * scale, 12 * scale)
    assert peers.inference_params(name, net) <= peers.training_params(net)
    assert name in peers.CONFIGS


def test_inference_params_match_the_reparameterised_forms():
    fused = peers.build('aidn_fused')
    assert peers.inference_params('aidn_fused', fused) == sum(p.numel() for p in fused.parameters())
    assert peers.inference_params('aidn_fused', fused) < peers.training_params(peers.build('aidn'))
    # the fused names' training form is the network as it trains: the speed table's "(... train)" count
    assert peers.training_params(peers.build('aidn_fused', training_form=True)) == peers.training_params(
        peers.build('aidn'))
    # ECBSR: each block collapses to one 3x3 convolution (weight + bias) plus its PReLU slopes
    from basicsr.archs.ecbsr_arch import ECB
    ecbsr = peers.build('ecbsr')
    collapsed = 0
    for module in ecbsr.modules():
        if isinstance(module, ECB):
            weight, bias = module.rep_params()
            collapsed += weight.numel() + bias.numel()
            collapsed += sum(p.numel() for p in module.act.parameters()) if hasattr(module, 'act') else 0
    assert peers.inference_params('ecbsr', ecbsr) == collapsed
    # SPAN: the eval form uses eval_conv only; removing the training branches keeps its output
    span = peers.build('span')
    counted = peers.inference_params('span', span)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        before = span(x)
        for module in span.modules():
            if hasattr(module, 'eval_conv'):
                module.update_params = lambda: None  # keep the folded kernels, drop the branches below
                module.conv = torch.nn.Sequential()
                module.sk = torch.nn.Identity()
        assert torch.equal(span(x), before)
    assert peers.training_params(span) == counted < peers.training_params(peers.build('span'))


def test_unknown_peer_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown network 'edsr'"):
        peers.build('edsr')


@pytest.mark.parametrize('options', [
    {'type': 'SAFMN', 'dim': 8, 'n_blocks': 1, 'upscaling_factor': 2},
    {'type': 'SPAN', 'num_in_ch': 3, 'num_out_ch': 3, 'feature_channels': 8, 'upscale': 2},
], ids=lambda o: o['type'])
def test_peers_register_in_basicsr_and_train_one_step(options):
    from basicsr.archs import build_network
    peers.register_peers()
    peers.register_peers()  # idempotent
    net = build_network(dict(options)).train()
    lq, gt = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 16, 16)
    loss = torch.nn.functional.l1_loss(net(lq), gt)
    loss.backward()
    trained = [name for name, p in net.named_parameters() if p.grad is not None]
    assert trained, 'no parameter received a gradient'


# ------------------------------------------------------------------------------------------------ timing
def test_round_robin_interleaves_rotates_and_warms_up():
    calls = []
    tasks = {name: (lambda name=name: calls.append(name)) for name in 'abc'}
    samples = timing.round_robin(tasks, repeats=3, warmup=2)
    assert calls[:6] == ['a', 'a', 'b', 'b', 'c', 'c']
    assert calls[6:] == ['a', 'b', 'c', 'b', 'c', 'a', 'c', 'a', 'b']
    assert {k: len(v) for k, v in samples.items()} == {'a': 3, 'b': 3, 'c': 3}
    assert all(s >= 0 for v in samples.values() for s in v)


def test_summarize_gives_median_and_quartiles_in_ms():
    summary = timing.summarize([0.004, 0.001, 0.003, 0.1, 0.002])
    assert summary['median_ms'] == pytest.approx(3.0)
    assert summary['q1_ms'] == pytest.approx(2.0) and summary['q3_ms'] == pytest.approx(4.0)
    assert summary['min_ms'] == pytest.approx(1.0) and summary['max_ms'] == pytest.approx(100.0)
    assert timing.summarize([0.5])['q1_ms'] == 500.0


def test_peak_memory_follows_the_largest_live_set():
    class Doubler(torch.nn.Module):
        def forward(self, x):
            return x * 2

    class Temporaries(torch.nn.Module):
        def forward(self, x):
            a, b, c = x + 1, x + 2, x + 3  # three live temporaries, then the output
            return a + b + c

    x = torch.rand(1, 3, 100, 100)
    one = benchmark_speed.peak_forward_memory(Doubler(), x)
    many = benchmark_speed.peak_forward_memory(Temporaries(), x)
    assert one >= x.numel() * 4
    assert many >= 4 * x.numel() * 4 > one


# ------------------------------------------------------------------------------------------- speed report
def test_speed_report_ratios(tiny_speed_report):
    report = tiny_speed_report
    models = report['models']
    assert list(models) == ['safmn', 'aidn', 'aidn_fused', 'bicubic']
    assert report['meta']['threads'] == 1 and report['settings']['threads'] == 1
    safmn = models['safmn']
    assert all(v == 1.0 for v in safmn['ratios'].values())
    fused = models['aidn_fused']
    assert fused['ratios']['peak_memory'] == round(fused['peak_memory_bytes'] / safmn['peak_memory_bytes'], 3)
    assert fused['params'] == 308006 and models['aidn']['training_params'] > fused['params']
    assert fused['macs'] == models['aidn']['macs'] > 0  # the training form runs the same convolutions
    assert models['bicubic']['macs'] == 0 and models['bicubic']['ratios']['train_step'] is None
    assert 'train_step' not in models['aidn_fused'] and models['aidn']['train_step']['runs'] == 2
    assert all(m['peak_memory_bytes'] > 0 and m['peak_memory_layout'] in peers.LAYOUTS for m in models.values())


def test_speed_report_times_both_layouts_and_reports_the_better(tiny_speed_report):
    """Fairness: every trained network is timed in NCHW and channels-last and reported at its better layout
    (SAFMN's included); the ratio is to SAFMN's better one."""
    models = tiny_speed_report['models']
    for name in ('safmn', 'aidn'):
        step = models[name]['train_step']
        layouts = models[name]['train_step_layouts']
        assert set(layouts) == {'nchw', 'channels_last'} and step['median_ms'] == min(
            v['median_ms'] for v in layouts.values()) and step['layout'] in layouts
    assert models['aidn']['ratios']['train_step'] == round(
        models['aidn']['train_step']['median_ms'] / models['safmn']['train_step']['median_ms'], 3)
    assert models['aidn']['edge_step_ms'] > 0  # measured; how it compares with the step depends on the host


def test_in_layout_copies_model_and_input():
    net = peers.build('srvgg')
    x = torch.rand(1, 3, 8, 8)
    placed, y = peers.in_layout(net, x, 'channels_last')
    conv = next(m for m in placed.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    original = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert original.weight.is_contiguous()  # the original is left as it was
    with torch.no_grad():
        assert torch.allclose(placed(y), net(x), atol=1e-5)


def test_speed_markdown_has_a_row_per_network(tiny_speed_report):
    text = benchmark_speed.markdown(tiny_speed_report)
    rows = [line for line in text.splitlines() if line.startswith('| ') and 'x SAFMN' not in line]
    for name in tiny_speed_report['models']:
        assert sum(peers.CONFIGS[name] in row for row in rows) == 1
    assert '1 thread.' in text and 'train step ms' in text and 'edge map of one training batch' in text


def test_speed_markdown_ratios_come_from_the_raw_figures(tiny_speed_report):
    # SPAN's peak memory was 3.3747x SAFMN's: stored rounded as 3.375, a second rounding printed 3.38
    report = copy.deepcopy(tiny_speed_report)
    safmn, aidn = report['models']['safmn'], report['models']['aidn']
    aidn['peak_memory_bytes'] = safmn['peak_memory_bytes'] * 3.3747
    aidn['ratios']['peak_memory'] = 3.375
    row = next(line for line in benchmark_speed.markdown(report).splitlines()
               if line.startswith(f'| {peers.CONFIGS["aidn"]} |'))
    assert row.split(' | ')[5] == '3.37'


def test_speed_main_writes_json_and_markdown(tmp_path, capsys):
    argv = ['--models', 'bicubic', '--threads', '1', '--size', '32x32', '--warmup', '0', '--train-batch', '1',
            '--train-patch', '8', '--train-repeats', '1', '--out-dir', str(tmp_path / 'out')]
    code, out, _ = call_main(benchmark_speed.main, argv, capsys)
    assert code == 0
    report = json.loads((tmp_path / 'out' / 'speed.json').read_text())
    assert list(report['models']) == ['safmn', 'bicubic'] and report['models']['safmn']['train_step']['runs'] == 1
    assert (tmp_path / 'out' / 'speed.md').read_text() in out
    assert not [p for p in (tmp_path / 'out').iterdir() if p.name.startswith('.')]  # no temporary left


@pytest.mark.parametrize('argv, message', [
    (['--models', 'edsr'], "argument --models: invalid choice: 'edsr'"),
    (['--size', '130x96'], 'not a multiple of --scale 4'),
    (['--size', 'big'], '--size: size must look like WIDTHxHEIGHT'),
    (['--train-repeats', '0'], '--train-repeats must be at least 1'),
])
def test_speed_bad_arguments_are_one_line_errors(argv, message, capsys):
    code, _, err = call_main(benchmark_speed.main, argv, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------------------- quality parts
def _quality_args(tmp_path, *extra):
    return benchmark_quality.parse_args(['--work-dir', str(tmp_path / 'work'), '--out-dir', str(tmp_path / 'out'),
                                         '--cells-dir', str(tmp_path / 'cells'), *extra])


def test_every_cell_network_builds_from_its_options_in_a_fresh_process():
    """The quality cells count each network's inference parameters in the benchmark's own process, where only
    peers.from_options registers SAFMN and SPAN: every network of the table builds there (AIDN's fused)."""
    code = ('import aidn_plugin\nfrom scripts.bench import peers, quality\n'
            'for name, options in quality.NETWORKS.items():\n'
            '    net = peers.from_options(options)\n'
            '    print(name, peers.inference_params(name, net.fuse() if options["type"] == "AIDN" else net))\n')
    result = run([sys.executable, '-c', code], cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    counts = dict(line.split() for line in result.stdout.splitlines() if line.count(' ') == 1)
    assert set(counts) == set(benchmark_quality.NETWORKS) and counts['aidn'] == '308006'
    assert 'is not found' not in result.stdout  # no registry notice for BasicSR's suffixed SRVGGNetCompact


def test_training_options_differ_only_in_network_and_name(tmp_path):
    args = benchmark_quality.with_seed(_quality_args(tmp_path, '--iters', '123', '--lr', '5e-4'), 7)
    aidn = benchmark_quality.train_options('aidn', args, '/data', '/data/meta.txt')
    safmn = benchmark_quality.train_options('safmn', args, '/data', '/data/meta.txt')
    assert aidn['network_g']['type'] == 'AIDN' and safmn['network_g']['type'] == 'SAFMN'
    assert aidn['name'] != safmn['name'] and aidn['manual_seed'] == 7
    strip = lambda opt: {k: v for k, v in opt.items() if k not in ('name', 'network_g')}  # noqa: E731
    assert strip(aidn) == strip(safmn)
    # every ablation variant is the default AIDN with one option changed, and trains with the same recipe
    for variant, change in benchmark_quality.ABLATIONS.items():
        options = benchmark_quality.train_options(variant, args, '/data', '/data/meta.txt')
        assert strip(options) == strip(aidn) and options['name'] != aidn['name']
        assert options['network_g'] == dict(aidn['network_g'], **change)
    other_seed = benchmark_quality.train_options('aidn', benchmark_quality.with_seed(args, 8), '/d', '/d/m.txt')
    assert other_seed['name'] != aidn['name']
    assert aidn['train']['total_iter'] == 123 == aidn['train']['scheduler']['periods'][0]
    # the YAML BasicSR will read keeps floats as floats
    path = tmp_path / 'o.yml'
    benchmark_quality.write_yaml(str(path), aidn)
    from aidn_plugin.cli.option_checks import load_option_file
    loaded = load_option_file(str(path))
    assert loaded['train']['optim_g']['lr'] == 5e-4 and loaded['train']['scheduler']['eta_min'] == 1e-6


def test_training_images_found_recursively_small_ones_listed(tmp_path):
    write_photo_crops(tmp_path / 'data' / 'A', 2, 40)
    small = write_photo_crops(tmp_path / 'data' / 'B' / 'deep', 3, 24, seed=1)
    for path in small.iterdir():
        path.rename(path.with_name('b_' + path.name))
    root, names, skipped = benchmark_quality.find_training_images([str(tmp_path / 'data')], 32)
    assert Path(root) == (tmp_path / 'data').resolve()
    assert names == ['A/img000.png', 'A/img001.png']
    assert skipped == [os.path.join('B', 'deep', f'b_img00{i}.png') for i in range(3)]
    with pytest.raises(benchmark_quality.BenchmarkError, match='no image is at least 64'):
        benchmark_quality.find_training_images([str(tmp_path / 'data')], 64)
    with pytest.raises(benchmark_quality.BenchmarkError, match='not a folder'):
        benchmark_quality.find_training_images([str(tmp_path / 'missing')], 32)


@pytest.mark.parametrize('argv, message', [
    (['--patch', '30'], '--patch 30 is not a multiple of the scale 4'),
    (['--ema-decay', '1'], '--ema-decay must be in [0, 1)'),
    (['--num-gpu', 'many'], "--num-gpu must be 'auto' or a number"),
    (['--models', 'edsr'], "invalid choice: 'edsr'"),
])
def test_quality_bad_arguments_are_one_line_errors(argv, message, capsys):
    code, _, err = call_main(benchmark_quality.main, argv, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_quality_missing_test_set_is_a_one_line_error(tmp_path, capsys):
    write_photo_crops(tmp_path / 'train', 2, 40)
    argv = ['--data', str(tmp_path / 'train'), '--test-root', str(tmp_path), '--sets', 'Set5',
            '--work-dir', str(tmp_path / 'w'), '--out-dir', str(tmp_path / 'o')]
    code, _, err = call_main(benchmark_quality.main, argv, capsys)
    assert code == 2 and 'Set5/HR not found' in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_quality_benchmark_end_to_end(tmp_path, capsys):
    """Two real `basicsr train` runs (2 iterations each) and two `basicsr test` runs, then more seeds."""
    write_photo_crops(tmp_path / 'train', 4, 40)
    write_tiny_test_set(tmp_path / 'sets' / 'Tiny')
    argv = ['--data', str(tmp_path / 'train'), '--test-root', str(tmp_path / 'sets'), '--sets', 'Tiny',
            '--iters', '2', '--batch', '2', '--patch', '32', '--workers', '0', '--enlarge', '2',
            '--threads', '1', '--num-gpu', '0', '--print-freq', '1', '--checkpoint-every', '1', '--quiet',
            '--work-dir', str(tmp_path / 'work'), '--out-dir', str(tmp_path / 'out'),
            '--cells-dir', str(tmp_path / 'cells')]
    code, out, err = call_main(benchmark_quality.main, argv + ['--seeds', '0'], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / 'out' / 'quality.json').read_text())
    assert list(report['models']) == ['aidn', 'safmn'] and report['data']['images'] == 4
    cells = sorted((tmp_path / 'cells').iterdir())
    assert len(cells) == 2
    for entry in report['models'].values():
        tiny = entry['sets']['Tiny']
        assert tiny['images'] == 2 and math.isfinite(tiny['psnr']) and 0 < tiny['ssim'] <= 1
        assert tiny['psnr_std'] is None  # one seed: no spread to show
        seed0 = entry['seeds']['0']
        log = (tmp_path / 'work' / 'experiments' / seed0['experiment'])
        assert (log / 'models' / 'net_g_latest.pth').is_file()
    assert report['models']['aidn']['params'] == 308006
    diff = report['difference']['safmn']['Tiny']['psnr']
    assert diff == pytest.approx(report['models']['safmn']['sets']['Tiny']['psnr']
                                 - report['models']['aidn']['sets']['Tiny']['psnr'], abs=1e-3)
    assert report['bicubic']['Tiny']['images'] == 2 and report['missing_cells'] == []
    text = (tmp_path / 'out' / 'quality.md').read_text()
    assert 'SAFMN (dim 36, 8 blocks) - AIDN' in text and 'bicubic' in text and text in out
    # the option files BasicSR ran differ only in name and network
    opts = [yaml.safe_load((tmp_path / 'work' / f'train_{m}_s0.yml').read_text()) for m in ('aidn', 'safmn')]
    assert [{k: v for k, v in o.items() if k not in ('name', 'network_g')} for o in opts][0] == \
        {k: v for k, v in opts[1].items() if k not in ('name', 'network_g')}

    # the campaign continues: finished cells are skipped, a new seed is trained, the table shows the spread
    code, out, err = call_main(benchmark_quality.main, argv + ['--models', 'aidn', '--seeds', '0', '1'], capsys)
    assert code == 0, err
    assert 'aidn_s0] done already' in out and '[aidn_s1] basicsr train' in out
    assert len(list((tmp_path / 'cells').iterdir())) == 3
    again = json.loads((tmp_path / 'out' / 'quality.json').read_text())
    tiny = again['models']['aidn']['sets']['Tiny']
    seeds = [again['models']['aidn']['seeds'][s]['sets']['Tiny']['psnr'] for s in ('0', '1')]
    assert tiny['psnr'] == pytest.approx(sum(seeds) / 2, abs=1e-3)
    assert tiny['psnr_std'] == pytest.approx(abs(seeds[0] - seeds[1]) / math.sqrt(2), abs=1e-3)


def test_the_chart_regenerates_from_the_committed_reports(tmp_path, capsys):
    # one command, the committed runtimes and quality reports, the benchmarks page's figure
    png = tmp_path / 'chart.png'
    code, out, err = call_main(plot_benchmarks.main, ['-o', str(png)], capsys)
    assert code == 0, err
    image = cv2.imread(str(png))
    assert image is not None and np.unique(image.reshape(-1, 3), axis=0).shape[0] > 10  # something was drawn
    runtimes = json.loads(open(plot_benchmarks.newest_runtimes_report()).read())
    quality = json.loads((REPO / 'benchmarks' / 'quality.json').read_text())
    found, _ = plot_benchmarks.points(runtimes, quality, 'Set14')
    assert {label for label, *_ in found} >= {'AIDN', 'SAFMN'}
    (tmp_path / 'bad.json').write_text('{"models": {}}')
    code, _, err = call_main(plot_benchmarks.main, ['--runtimes', str(tmp_path / 'bad.json'), '-o', str(png)], capsys)
    assert code == 2 and "no 'meta' entry" in err and len(err.strip().splitlines()) == 1


def test_the_campaign_tables_and_curves_come_from_its_logs(tmp_path, capsys):
    from scripts.bench import campaign
    logs = campaign.read_logs()
    assert [log['scale'] for log in logs] == [2, 3, 4]
    rows = campaign.markdown_table(logs).splitlines()
    assert len(rows) == 2 + sum(len(log['chunks']) for log in logs)
    assert campaign.main(['--plot', str(tmp_path / 'curves.png')]) == 0
    assert (tmp_path / 'curves.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert rows[0] in capsys.readouterr().out


@pytest.mark.slow
def test_runtimes_report_times_every_path_and_names_the_best(tmp_path):
    # the real command in a process of its own: OpenVINO's converted models are not left in the test
    # process (their teardown beside OpenCV and torch there once crashed a later test)
    from scripts.bench import runtimes
    pytest.importorskip('openvino')
    result = run([sys.executable, '-m', 'scripts.bench.runtimes', '--models', 'aidn_fused', 'aidn_light', 'srvgg',
                  'safmn', '--threads', '1', '--size', '32x32', '--repeats', '1', '--warmup', '0', '--no-int8',
                  '--out-dir', str(tmp_path)], cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    (path, ) = tmp_path.glob('runtimes_*.json')
    assert path.name.endswith('_1t.json')  # one report per CPU class and thread count
    report = json.loads(path.read_text())
    assert report['meta']['cpu_class'] in ('AMX', 'AVX-512 BF16', 'AVX-512 VNNI', 'AVX2')
    for name, entry in report['models'].items():
        # AIDN in OpenVINO both ways: converted in memory (what aidn upscale -m runs) and from its ONNX file
        onnx_route = {'openvino_fp32_onnx', 'openvino_bf16_onnx'} if name.startswith('aidn') else set()
        assert set(entry['paths']) == {'torch_fp32_nchw', 'torch_fp32_channels_last', 'torch_bf16_nchw',
                                       'torch_bf16_channels_last', 'ort_fp32', 'openvino_fp32',
                                       'openvino_bf16'} | onnx_route
        assert entry['best'] == min(entry['paths'], key=lambda p: entry['paths'][p]['latency']['median_ms'])
        assert entry['paths']['openvino_fp32']['max_abs_diff'] < 1e-3  # the same image, fp32 in another runtime
    aidn, safmn = report['models']['aidn_fused'], report['models']['safmn']
    best = aidn['paths'][aidn['best']]['latency']['median_ms']
    assert report['ratios']['aidn_best_over_safmn_best'] == round(
        best / safmn['paths'][safmn['best']]['latency']['median_ms'], 3)
    assert report['ratios']['aidn_torch_fp32_over_safmn_torch_fp32'] == round(
        runtimes.torch_fp32_ms(aidn) / runtimes.torch_fp32_ms(safmn), 3)
    light = report['models']['aidn_light']  # the lighter AIDN gets the same ratios, under its own name
    assert report['ratios']['aidn_light_best_over_safmn_best'] == round(
        runtimes.best_ms(light) / runtimes.best_ms(safmn), 3)
    assert 'aidn_light_best_over_span_best' not in report['ratios']  # SPAN was not timed
    assert path.with_suffix('.md').read_text() == runtimes.markdown(report)
