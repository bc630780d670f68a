"""AIDNModel under DataParallel (``num_gpu`` > 1 without a launcher): the dataset's edge still reaches AIDN.

DataParallel scatters the batch into new tensors, one chunk per GPU, so a hook on the bare network alone
cannot tell the fed batch from any other input and the edge would be dropped without a word. AIDNModel
hooks the wrapper as well: DataParallel then receives ``edge=`` with the batch and scatters it along the
batch like ``lq``. On a machine without GPUs DataParallel runs the bare network directly, so these tests
check what the wrapper receives and what the network computes; the scatter of keyword tensors is
DataParallel's own documented behaviour.
"""
import torch
from torch.nn import DataParallel

TINY_NET = {'type': 'AIDN', 'upscale': 2, 'num_feat': 8, 'num_block': 2, 'num_out': 2}


def _data_parallel_model():
    """An AIDNModel whose net_g is wrapped as BasicSR's model_to_device wraps it for num_gpu > 1."""
    import aidn_plugin  # noqa: F401  (registers AIDNModel)
    from basicsr.models import build_model
    model = build_model({'model_type': 'AIDNModel', 'num_gpu': 0, 'is_train': False, 'dist': False,
                         'network_g': dict(TINY_NET), 'path': {}})
    model.net_g = DataParallel(model.net_g)
    model._feed_edge_to(model.net_g)
    return model


def test_data_parallel_receives_the_edge_with_the_batch():
    torch.manual_seed(0)
    model = _data_parallel_model()
    received = []
    model.net_g.register_forward_pre_hook(lambda module, args, kwargs: received.append(kwargs), with_kwargs=True)
    lq, edge = torch.rand(2, 3, 10, 12), torch.rand(2, 1, 10, 12)
    model.feed_data({'lq': lq, 'edge': edge})
    model.test()
    # the wrapper itself gets edge=, so its scatter splits it with lq
    assert len(received) == 1 and received[0]['edge'] is model.edge
    bare = model.get_bare_model(model.net_g)
    with torch.no_grad():
        assert torch.equal(model.output, bare(lq.clone(), edge))
        assert not torch.allclose(model.output, bare(lq.clone()))


def test_data_parallel_without_a_dataset_edge_lets_the_network_compute_it():
    model = _data_parallel_model()
    received = []
    model.net_g.register_forward_pre_hook(lambda module, args, kwargs: received.append(kwargs), with_kwargs=True)
    lq = torch.rand(1, 3, 8, 8)
    model.feed_data({'lq': lq})
    model.test()
    assert received == [{}]
    with torch.no_grad():
        assert torch.equal(model.output, model.get_bare_model(model.net_g)(lq.clone()))

