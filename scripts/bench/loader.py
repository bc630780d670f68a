"""Is the data loader fast enough? LMDB loader throughput against one AIDN training step.

Builds, in a temporary folder and with the real ``aidn prepare`` code, an HR LMDB and a bicubic x4 LR
LMDB from a subset of a training folder (default ``datasets/train/BSD200`` inside the repository, BasicSR's convention; 481x321 photos),
then measures

* samples/s of ``EdgePairedImageDataset`` (LMDB, x4, ``gt_size`` 192, flips + rotations, edge computed
  on the fly) through a ``DataLoader`` with batch 16 and 0 and 2 worker processes, with the LR read from
  the LR LMDB and, for comparison, made on the fly;
* samples/s of AIDN training: one step (forward, L1 loss, backward, Adam) on a batch of 16 LR patches of
  48x48 with their edge maps, default ``AIDN()``, median of repeated steps after warm-up;

and writes a JSON file and a Markdown table. The loader keeps up when its ratio to training is > 1.

    python -m scripts.bench.loader [--source DIR] [--images 100] [--threads 2] [--output results/benchmark_loader]
"""
import argparse
import datetime
import os
import statistics
import tempfile
import time

from scripts.bench.report_io import cpu_name, write_json_atomic, write_text_atomic

BATCH = 16
GT_SIZE = 192
SCALE = 4


def build_lmdbs(source, count, workdir):
    from aidn_plugin.utils import image_io
    from aidn_plugin.prepare.lmdb_writer import make_lmdb
    from aidn_plugin.prepare.lr import make_lr
    names = [n for n in image_io.list_images(source)]
    chosen = []
    for name in names:  # every image must hold a 192-pixel crop
        h, w = image_io.read(os.path.join(source, name)).shape[:2]
        if min(h, w) >= GT_SIZE:
            chosen.append(name)
        if len(chosen) == count:
            break
    hr = os.path.join(workdir, 'HR')
    os.makedirs(hr)
    for name in chosen:
        os.symlink(os.path.abspath(os.path.join(source, name)), os.path.join(hr, name))
    make_lr(hr, os.path.join(workdir, 'LR'), scales=[SCALE])
    make_lmdb(hr, os.path.join(workdir, 'hr.lmdb'))
    make_lmdb(os.path.join(workdir, 'LR', f'X{SCALE}'), os.path.join(workdir, 'lr.lmdb'))
    sizes = sorted({image_io.read(os.path.join(hr, n)).shape[:2] for n in chosen})
    return len(chosen), sizes


def loader_rate(workdir, workers, on_the_fly, batches):
    from basicsr.data.data_sampler import EnlargedSampler
    from torch.utils.data import DataLoader

    from aidn_plugin.data import EdgePairedImageDataset
    opt = dict(dataroot_gt=os.path.join(workdir, 'hr.lmdb'), io_backend=dict(type='lmdb'), scale=SCALE,
               phase='train', gt_size=GT_SIZE, use_hflip=True, use_rot=True)
    if not on_the_fly:
        opt['dataroot_lq'] = os.path.join(workdir, 'lr.lmdb')
    dataset = EdgePairedImageDataset(opt)
    ratio = -(-(batches + 1) * BATCH // len(dataset))
    sampler = EnlargedSampler(dataset, num_replicas=1, rank=0, ratio=ratio)
    loader = DataLoader(dataset, batch_size=BATCH, sampler=sampler, num_workers=workers, drop_last=True,
                        persistent_workers=workers > 0)
    iterator = iter(loader)
    first = next(iterator)  # worker start-up and first batch are not counted
    assert first['gt'].shape == (BATCH, 3, GT_SIZE, GT_SIZE)
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(iterator)
        assert batch['edge'].shape == (BATCH, 1, GT_SIZE // SCALE, GT_SIZE // SCALE)
    elapsed = time.perf_counter() - start
    del iterator, loader
    return batches * BATCH / elapsed


def training_rate(steps, warmup):
    import torch

    from aidn_plugin.archs.aidn_arch import AIDN
    from aidn_plugin.edges import edge_map
    torch.manual_seed(0)
    net = AIDN(upscale=SCALE)
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-4)
    criterion = torch.nn.L1Loss()
    lq = torch.rand(BATCH, 3, GT_SIZE // SCALE, GT_SIZE // SCALE)
    gt = torch.rand(BATCH, 3, GT_SIZE, GT_SIZE)
    edge = edge_map(lq)
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(net(lq, edge), gt)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    step_time = statistics.median(times)
    return BATCH / step_time, step_time, sum(p.numel() for p in net.parameters())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--source', default=os.path.join('datasets', 'train', 'BSD200'),
                        help='folder of HR training images (a subset is used)')
    parser.add_argument('--images', type=int, default=100, help='images taken from --source; default 100')
    parser.add_argument('--threads', type=int, default=2, help='torch threads in this process; default 2')
    parser.add_argument('--batches', type=int, default=20, help='timed loader batches per setting; default 20')
    parser.add_argument('--steps', type=int, default=10, help='timed training steps; default 10')
    parser.add_argument('--output', default=os.path.join('results', 'benchmark_loader'),
                        help='output path without extension (.json and .md are written)')
    args = parser.parse_args()

    import torch

    import aidn_plugin  # noqa: F401  (compat layer, registration)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}, CPU cores {os.cpu_count()}, '
          f'load average {load_before:.1f}')

    with tempfile.TemporaryDirectory(prefix='aidn_bench_') as workdir:
        count, sizes = build_lmdbs(args.source, args.images, workdir)
        print(f'LMDBs of {count} images from {args.source} (sizes {sizes})')
        train_rate, step_time, params = training_rate(args.steps, warmup=3)
        print(f'AIDN training step (batch {BATCH}, {GT_SIZE // SCALE}x{GT_SIZE // SCALE} LR): '
              f'{step_time * 1e3:.0f} ms = {train_rate:.1f} samples/s')
        rows = []
        for on_the_fly in (False, True):
            for workers in (0, 2):
                rate = loader_rate(workdir, workers, on_the_fly, args.batches)
                lr_source = 'made on the fly' if on_the_fly else 'from the LR LMDB'
                rows.append(dict(lr=lr_source, workers=workers, samples_per_s=rate,
                                 ratio_to_training=rate / train_rate))
                print(f'loader, LR {lr_source}, {workers} workers: {rate:.1f} samples/s '
                      f'({rate / train_rate:.1f}x training)')

    result = dict(
        date=datetime.date.today().isoformat(), machine=cpu_name(),
        cpu_count=os.cpu_count(), threads=args.threads, load_average_1min=[load_before, os.getloadavg()[0]],
        torch=torch.__version__, source=os.path.abspath(args.source),
        images=count, image_sizes=[list(s) for s in sizes], batch=BATCH, gt_size=GT_SIZE, scale=SCALE,
        training=dict(step_ms=step_time * 1e3, samples_per_s=train_rate, params=params), loader=rows)
    table = [f'Loader vs training, x{SCALE}, gt_size {GT_SIZE}, batch {BATCH}, {count} images '
             f'({result["date"]}, {result["machine"]}, {os.cpu_count()} CPU cores, torch threads {args.threads}, '
             f'load average {load_before:.1f}, no GPU)', '',
             '| what | workers | samples/s | / training |', '|---|---|---|---|',
             f'| AIDN training step ({GT_SIZE // SCALE}x{GT_SIZE // SCALE} LR, Adam, L1) | - | '
             f'{train_rate:.1f} | 1.0 |']
    for row in rows:
        table.append(f'| EdgePairedImageDataset, LMDB GT, LR {row["lr"]} | {row["workers"]} | '
                     f'{row["samples_per_s"]:.1f} | {row["ratio_to_training"]:.1f} |')
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    write_json_atomic(args.output + '.json', result)
    write_text_atomic(args.output + '.md', '\n'.join(table) + '\n')
    print('\n'.join(table))
    print(f'written: {args.output}.json, {args.output}.md')


if __name__ == '__main__':
    main()
