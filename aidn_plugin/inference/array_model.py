"""What the non-torch runtimes share: a model that maps numpy arrays, dressed as the torch AIDN.

:mod:`aidn_plugin.inference.tiling` reads ``upscale``, ``num_in_ch``, ``parameters()`` (for the input's
device and dtype) and ``eval()`` from a model and calls it on tensors. A runtime model (ONNX Runtime,
OpenVINO) subclasses :class:`ArrayModel`, sets ``upscale`` and ``num_in_ch`` and implements :meth:`run`.
"""
import numpy as np


class ArrayModel:
    """Base of the runtime models: ``model(x)`` for a numpy array or a CPU torch tensor."""

    upscale = None
    num_in_ch = 3

    def run(self, array):
        """[N, C, H, W] float32 numpy array -> [N, C, H * upscale, W * upscale] float32 numpy array."""
        raise NotImplementedError

    def __call__(self, x):
        """Like :meth:`run`; a torch tensor in gives a torch tensor out (CPU)."""
        if isinstance(x, np.ndarray):
            return self.run(np.ascontiguousarray(x, dtype=np.float32))
        import torch
        return torch.from_numpy(self.run(np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)))

    def parameters(self):
        """One empty float32 CPU tensor: tiling moves each tile to its device and dtype."""
        import torch
        return iter([torch.empty(0)])

    def eval(self):
        return self
