"""Which precision an inference runs in: what the CPU can do natively, and what the weights were measured to
lose in bf16.

``choose(requested, device, backend, bf16_change)`` turns ``--precision`` (``auto``, ``fp32``, ``fp16``,
``bf16``) into the precision that runs and a short reason, the line ``aidn upscale`` prints:

* ``auto`` on a CUDA device: fp32, as before (GPUs are not changed by this choice).
* ``auto`` on the CPU: bf16 when the CPU has native bf16 instructions (``amx_bf16`` or ``avx512_bf16`` in
  its flags) *and* the weights' measured Y-PSNR change in bf16 on this backend is at most
  ``AUTO_BF16_MAX_LOSS_DB`` on every benchmark set (the zoo entries carry it: ``bf16_psnr_change``);
  fp32 otherwise, saying which condition failed.
* An explicit precision is kept, with two refusals (:class:`PrecisionError`, one line): fp16 off CUDA, and
  bf16 on the OpenVINO backend of a CPU without native bf16 (OpenVINO would silently run fp32 there).

The CPU's flags come from ``/proc/cpuinfo`` (Linux); elsewhere none are known and ``auto`` stays fp32.
"""
import functools

PRECISIONS = ('auto', 'fp32', 'fp16', 'bf16')
AUTO_BF16_MAX_LOSS_DB = 0.02
NATIVE_BF16_FLAGS = ('amx_bf16', 'avx512_bf16')


class PrecisionError(ValueError):
    """A precision the device or the CPU cannot run; the message names the precision to use instead."""


@functools.lru_cache(maxsize=1)
def cpu_flags(cpuinfo='/proc/cpuinfo'):
    """The CPU's feature flags (a frozenset; empty where ``cpuinfo`` cannot be read)."""
    try:
        with open(cpuinfo, encoding='utf-8', errors='replace') as handle:
            for line in handle:
                if line.startswith('flags'):
                    return frozenset(line.partition(':')[2].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(flags):
    """The first native bf16 flag in ``flags`` (``amx_bf16`` before ``avx512_bf16``), or None."""
    return next((flag for flag in NATIVE_BF16_FLAGS if flag in flags), None)


def choose(requested, device, backend, bf16_change=None, flags=None):
    """The precision to run and why.

    Args:
        requested (str): one of PRECISIONS (None counts as ``auto``).
        device (str): ``cpu`` or ``cuda``.
        backend (str): ``torch``, ``onnxruntime`` or ``openvino`` (onnxruntime runs its file's precision
            and is not asked here).
        bf16_change (dict | None): the weights' measured Y-PSNR change (dB) in bf16 on this backend, per
            benchmark set; None when the weights were not measured.
        flags (frozenset | None): the CPU's flags; default :func:`cpu_flags`.

    Returns:
        (str, str): the precision (``fp32``, ``fp16`` or ``bf16``) and a reason for the output line.

    Raises:
        PrecisionError: fp16 off CUDA, or bf16 on OpenVINO without native bf16.
    """
    requested = requested or 'auto'
    if requested not in PRECISIONS:
        raise ValueError(f'precision must be one of {", ".join(PRECISIONS)}, got {requested!r}')
    flags = cpu_flags() if flags is None else flags
    native = native_bf16(flags)
    if requested == 'fp16' and device != 'cuda':
        raise PrecisionError(f'fp16 needs a CUDA device, but the device is {device}; use bf16 or fp32 there')
    if requested == 'bf16' and backend == 'openvino' and not native:
        raise PrecisionError('bf16 on the openvino backend needs a CPU with AVX-512 BF16 or AMX, which this one '
                             'lacks; use fp32 (or --backend torch, which emulates bf16 slowly)')
    if requested != 'auto':
        return requested, 'as asked'
    if device == 'cuda':
        return 'fp32', 'auto: fp32 on a GPU'
    if not native:
        return 'fp32', 'auto: this CPU has no native bf16 (AVX-512 BF16 or AMX)'
    if not bf16_change:
        return 'fp32', f'auto: the CPU has {native}, but these weights\' bf16 quality was not measured'
    worst = min(bf16_change.values())
    if worst < -AUTO_BF16_MAX_LOSS_DB:
        return 'fp32', (f'auto: bf16 would cost these weights {-worst:.3f} dB Y-PSNR (more than '
                        f'{AUTO_BF16_MAX_LOSS_DB} dB)')
    return 'bf16', (f'auto: the CPU has {native}, and bf16 changes these weights\' Y-PSNR by at most '
                    f'{max(abs(v) for v in bf16_change.values()):.3f} dB')
