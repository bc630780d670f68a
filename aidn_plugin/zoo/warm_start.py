"""Warm start across scales: the body of one scale's AIDN weights inside a network of another scale.

The lightweight-SR practice (EDSR, RFDN, SAFMN and others) trains x2 first and starts x3 and x4 from its
weights. Everything that works at LR is shared by all scales and is copied: the dual-input shallow features
(``conv_first_*``) and the blocks (``body.*``). Two parts are the scale's own and keep the target network's
fresh initialisation: the shared upsampler (``upsampler.*``: a conv to 3·s² channels, so its shape differs
between scales) and the attention fusion of the K residual images (``fusion.*``: it weighs HR residuals, so
what it learnt at x2 does not carry over, even though its shape does).

    from aidn_plugin.archs.aidn_arch import AIDN
    torch.manual_seed(0)
    x4 = AIDN(upscale=4)
    x4.load_state_dict(warm_start_state_dict(x2_state_dict, x4))   # strict: every key is there

The result is a complete state dict of the target, so BasicSR loads it with ``strict_load_g: true``, and
its EMA copy (built from the same file) starts from the same tensors.
"""
from aidn_plugin.archs.aidn_spec import CheckpointError

SCALE_SPECIFIC_PREFIXES = ('upsampler.', 'fusion.')  # the target keeps its own initialisation of these


def is_scale_specific(key):
    """Whether the tensor ``key`` belongs to a part of AIDN that is specific to the scale."""
    return key.startswith(SCALE_SPECIFIC_PREFIXES)


def body_state_dict(state_dict):
    """The tensors of ``state_dict`` that every scale shares (all but the upsampler and the fusion)."""
    return {key: value for key, value in state_dict.items() if not is_scale_specific(key)}


def warm_start_state_dict(source_state_dict, target_model, source='source weights'):
    """A complete state dict for ``target_model``: the body of ``source_state_dict``, and the target's own
    (freshly initialised) upsampler and fusion.

    Args:
        source_state_dict (dict): AIDN weights of any scale (e.g. the x2 zoo file's), training form or fused
            alike, as long as the target is built in the same form.
        target_model (torch.nn.Module): the AIDN to start, of the scale to train; its current tensors give
            the scale-specific part.
        source (str): names the source in error messages.

    Returns:
        dict: tensor name -> tensor (copies), exactly the target's keys and shapes.

    Raises:
        CheckpointError: the source's body does not fit the target's (another width, depth, edge input,
            attention, or one fused and the other not); the one-line message names the first differences.
    """
    target = target_model.state_dict()
    body = body_state_dict(source_state_dict)
    wanted = body_state_dict(target)
    missing = sorted(set(wanted) - set(body))
    extra = sorted(set(body) - set(wanted))
    mismatched = [f'{key} {tuple(body[key].shape)} vs {tuple(wanted[key].shape)}'
                  for key in sorted(set(body) & set(wanted)) if body[key].shape != wanted[key].shape]
    problems = []
    if missing:
        problems.append(f'{len(missing)} body tensor(s) missing (first {missing[0]!r})')
    if extra:
        problems.append(f'{len(extra)} tensor(s) the target has not (first {extra[0]!r})')
    if mismatched:
        problems.append(f'{len(mismatched)} of another shape (first {mismatched[0]})')
    if problems:
        raise CheckpointError(f'{source}: its body does not fit the target network: ' + '; '.join(problems)
                              + ' (same num_feat, num_block, edge_input, attention and form needed)')
    return {key: (body[key] if key in body else value).detach().clone().to(value.dtype)
            for key, value in target.items()}


__all__ = ['SCALE_SPECIFIC_PREFIXES', 'body_state_dict', 'is_scale_specific', 'warm_start_state_dict']
