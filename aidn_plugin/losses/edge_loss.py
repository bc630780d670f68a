"""``EdgeAwareL1Loss``: L1 that weighs pixels by the HR edge magnitude, plus an optional L1 between the
edge maps of the output and the HR image. A BasicSR loss (``pixel_opt: {type: EdgeAwareL1Loss, ...}``).

With ``edge_weight: 0`` and ``edge_loss_weight: 0`` it is exactly BasicSR's ``L1Loss``.
"""
import torch
from basicsr.utils.registry import LOSS_REGISTRY
from torch import nn

from aidn_plugin.edges import EDGE_OPERATORS, edge_map

REDUCTIONS = ('mean', 'sum')


@LOSS_REGISTRY.register()
class EdgeAwareL1Loss(nn.Module):
    """``loss_weight * (mean(|pred - gt| * (1 + edge_weight * E(gt))) + edge_loss_weight * mean(|E(pred) - E(gt)|))``

    ``E`` is :func:`aidn_plugin.edges.edge_map` (the operator AIDN's edge input uses), in [0, 1]. The first
    term spends more of the loss on edges, where bicubic-like blur costs most; the second asks the output's
    edge map to match the HR one.

    Args:
        loss_weight (float): weight of the whole loss. Default 1.
        edge_weight (float): how much more an edge pixel weighs than a flat one (0: plain L1). Default 1.
        edge_loss_weight (float): weight of the edge-map term (0: none). Default 0.
        edge_operator (str): ``sobel``, ``scharr`` or ``laplacian``. Default ``sobel``.
        reduction (str): ``mean`` or ``sum`` over all elements. Default ``mean``.

    ``forward(pred, target, weight=None, target_edge=None)``: ``pred`` and ``target`` are [N, C, H, W] with
    C in (1, 3); ``weight`` (optional) multiplies the pixel term element-wise, as in BasicSR's losses;
    ``target_edge`` (optional, [N, 1, H, W]) is ``E(target)`` when the caller has it already (the dataset's
    ``gt_edge``), else it is computed.
    """

    def __init__(self, loss_weight=1.0, edge_weight=1.0, edge_loss_weight=0.0, edge_operator='sobel',
                 reduction='mean'):
        super().__init__()
        for name, value in (('loss_weight', loss_weight), ('edge_weight', edge_weight),
                            ('edge_loss_weight', edge_loss_weight)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f'EdgeAwareL1Loss: {name} must be a number >= 0, got {value!r}')
        if edge_operator not in EDGE_OPERATORS:
            raise ValueError(f'EdgeAwareL1Loss: edge_operator must be one of {EDGE_OPERATORS}, got {edge_operator!r}')
        if reduction not in REDUCTIONS:
            raise ValueError(f'EdgeAwareL1Loss: reduction must be one of {REDUCTIONS}, got {reduction!r}')
        self.loss_weight = float(loss_weight)
        self.edge_weight = float(edge_weight)
        self.edge_loss_weight = float(edge_loss_weight)
        self.edge_operator = edge_operator
        self.reduction = reduction

    def _reduce(self, value):
        return value.mean() if self.reduction == 'mean' else value.sum()

    def forward(self, pred, target, weight=None, target_edge=None):
        if pred.shape != target.shape:
            raise ValueError(f'EdgeAwareL1Loss: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ')
        pixel = (pred - target).abs()
        if weight is not None:
            pixel = pixel * weight
        needs_edge = self.edge_weight > 0 or self.edge_loss_weight > 0
        if needs_edge and target_edge is None:
            with torch.no_grad():  # the target is data: no gradient through its edge map
                target_edge = edge_map(target, self.edge_operator)
        if self.edge_weight > 0:
            pixel = pixel * (1 + self.edge_weight * target_edge)
        loss = self._reduce(pixel)
        if self.edge_loss_weight > 0:
            loss = loss + self.edge_loss_weight * self._reduce((edge_map(pred, self.edge_operator) - target_edge).abs())
        return self.loss_weight * loss
