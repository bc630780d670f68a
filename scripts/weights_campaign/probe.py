"""How fast this machine trains a chunk's network right now: a few real training steps (AIDN of the option
file's ``network_g``, a batch of its size and HR patch, L1, Adam) timed in this process.

The last chunk's measured rate alone sizes a ``--minutes`` chunk wrongly when the host is slower or busier
than it was then (the same command once planned 75 minutes and took over two hours). The probe measures the
host as it is; ``chunk.chunk_iterations`` turns it into seconds per whole training iteration.
"""
PROBE_STEPS = 5  # timed steps, after one untimed step that pays for the first allocations


def probe_seconds_per_step(options, threads, steps=PROBE_STEPS):
    """Median wall-clock seconds of one training step of ``options``' network on ``threads`` torch threads.

    Options: ``options`` the chunk's option dict (``network_g``, ``scale``, ``datasets.train.gt_size`` and
    ``batch_size_per_gpu`` are read); ``threads`` the torch threads the chunk trains on; ``steps`` how many
    steps are timed. Random tensors stand in for the crops: a step's cost does not depend on their content.
    The process's torch thread count is restored afterwards.
    """
    import torch

    from aidn_plugin.archs.aidn_arch import AIDN
    from scripts.bench.timing import time_call
    from scripts.weights_campaign.training import network_args
    train_set = options['datasets']['train']
    batch, patch, scale = train_set['batch_size_per_gpu'], train_set['gt_size'], options['scale']
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        network = AIDN(**network_args(options)).train()
        optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
        low = torch.rand(batch, 3, patch // scale, patch // scale, generator=generator)
        high = torch.rand(batch, 3, patch, patch, generator=generator)

        def step():
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.l1_loss(network(low), high).backward()
            optimizer.step()
        return time_call(step, warmup=1, repeats=steps, device=torch.device('cpu'))
    finally:
        torch.set_num_threads(before)
