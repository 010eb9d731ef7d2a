"""Which CPUs have INT8 dot-product instructions (system.int8_dot_product): the runtime runs INT8 only where its
accuracy was proven on a CPU of the same class."""

from __future__ import annotations

import pytest

from edge_app.system import int8_dot_product


@pytest.mark.parametrize("flags, cap, expected", [
    (["avx2", "avx512f", "avx512_vnni"], None, True),  # Cascade Lake, Ice Lake
    (["avx2", "avx512f", "avx512_vnni", "amx_int8"], None, True),  # Sapphire Rapids
    (["avx2", "avx_vnni"], None, True),  # Alder Lake
    (["avx2", "avx512f"], None, False),  # Skylake-SP
    (["avx2"], None, False),  # older Core, Atom, AMD Zen 2/3
    (["avx2", "avx512f", "avx512_vnni"], "AVX512_CORE", False),  # capped below VNNI
    (["avx2", "avx512f", "avx512_vnni"], "avx2", False),
    (["avx2", "avx512f", "avx512_vnni"], "AVX512_CORE_VNNI", True),
    (["avx2"], "AVX512_CORE_AMX", False),  # a cap above the CPU adds nothing
])
def test_int8_dot_product_follows_the_flags_and_the_onednn_cap(flags, cap, expected):
    assert int8_dot_product(flags, cap) is expected
