"""``--precision auto``: bf16 only on a CPU with native bf16 and for weights measured to lose at most 0.02 dB
in it; fp32 on GPUs and elsewhere; the refusals name the precision to use. The CPU's flags are passed in,
so every branch runs on any host."""
import pytest

from aidn_plugin.inference import precision
from aidn_plugin.zoo.registry import ZOO

AMX = frozenset({'avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile'})
ZEN4 = frozenset({'avx2', 'avx512f', 'avx512_bf16', 'avx512_vnni'})
AVX2 = frozenset({'avx2', 'fma'})
SMALL = {'Set5': -0.003, 'Set14': -0.002, 'B100': -0.001}


@pytest.mark.parametrize('flags, expected', [(AMX, 'amx_bf16'), (ZEN4, 'avx512_bf16'), (AVX2, None)])
def test_native_bf16_prefers_amx(flags, expected):
    assert precision.native_bf16(flags) == expected


def test_auto_picks_bf16_only_with_native_bf16_and_a_measured_small_change():
    chosen, why = precision.choose('auto', 'cpu', 'torch', SMALL, flags=AMX)
    assert chosen == 'bf16' and 'amx_bf16' in why and '0.003 dB' in why
    assert precision.choose(None, 'cpu', 'openvino', SMALL, flags=ZEN4)[0] == 'bf16'
    chosen, why = precision.choose('auto', 'cpu', 'torch', SMALL, flags=AVX2)
    assert chosen == 'fp32' and 'no native bf16' in why
    chosen, why = precision.choose('auto', 'cpu', 'torch', None, flags=AMX)
    assert chosen == 'fp32' and 'not measured' in why
    chosen, why = precision.choose('auto', 'cpu', 'openvino', dict(SMALL, Set5=-0.052), flags=AMX)
    assert chosen == 'fp32' and '0.052 dB' in why
    assert precision.choose('auto', 'cuda', 'torch', SMALL, flags=AMX) == ('fp32', 'auto: fp32 on a GPU')


def test_explicit_precisions_are_kept_or_refused_in_one_line():
    assert precision.choose('bf16', 'cpu', 'torch', None, flags=AVX2) == ('bf16', 'as asked')
    assert precision.choose('fp16', 'cuda', 'torch', None, flags=AVX2) == ('fp16', 'as asked')
    with pytest.raises(precision.PrecisionError, match='fp16 needs a CUDA device.*use bf16 or fp32'):
        precision.choose('fp16', 'cpu', 'torch', None, flags=AMX)
    with pytest.raises(precision.PrecisionError, match='AVX-512 BF16 or AMX.*use fp32'):
        precision.choose('bf16', 'cpu', 'openvino', SMALL, flags=AVX2)
    with pytest.raises(ValueError, match='precision must be one of'):
        precision.choose('int4', 'cpu', 'torch', None, flags=AVX2)


def test_cpu_flags_reads_the_flags_line(tmp_path):
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512_bf16\n\n')
    assert precision.cpu_flags.__wrapped__(str(info)) == {'fpu', 'avx2', 'avx512_bf16'}
    assert precision.cpu_flags.__wrapped__(str(tmp_path / 'missing')) == frozenset()


@pytest.mark.parametrize('name', sorted(ZOO))
def test_every_zoo_entry_carries_its_measured_bf16_change(name):
    entry = ZOO[name]
    assert set(entry.bf16_psnr_change) == {'torch', 'openvino'}
    for changes in entry.bf16_psnr_change.values():
        assert set(changes) == {'Set5', 'Set14', 'B100'}
