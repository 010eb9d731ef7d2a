"""OpenVINO runtime wrapper: device selection and fallback, precision hints, model-store choice."""

from __future__ import annotations

import pytest

from edge_app.errors import VigilError
from edge_app.inference.latency import stats_from_ms
from edge_app.inference.runtime import Runtime


def test_unknown_device_is_an_error():
    with pytest.raises(VigilError, match="not known to OpenVINO"):
        Runtime("TPU")


def test_bad_hint_is_an_error():
    with pytest.raises(VigilError, match="performance hint"):
        Runtime("CPU", hint="FASTEST")


def test_latency_stats_percentiles():
    s = stats_from_ms(list(range(1, 101)))
    assert s.p50_ms == pytest.approx(50.5) and s.p99_ms == pytest.approx(99.01) and s.count == 100


@pytest.mark.parametrize("configured, streams, cores, expected", [
    (None, 1, 2, 2), (None, 2, 2, 1), (None, 8, 2, 1), (None, 1, 4, 4), (None, 3, 8, 2), (2, 4, 2, 2), (3, 1, 2, 3)])
def test_threads_per_inference_share_out_the_cores_unless_configured(configured, streams, cores, expected):
    from edge_app.config import InferenceConfig

    assert InferenceConfig(threads=configured).threads_for(streams, cores) == expected


def test_an_isa_cap_applies_only_below_the_cpus_own_instruction_set():
    from edge_app.bench.isa import cap_applies

    vnni = ["avx2", "avx512f", "avx512_vnni"]  # this machine: AVX-512 with VNNI, no AMX, no AVX-VNNI
    assert not cap_applies("AVX512_CORE_AMX", vnni) and not cap_applies("AVX512_CORE_VNNI", vnni)
    assert cap_applies("AVX512_CORE", vnni) and cap_applies("AVX2_VNNI", vnni) and cap_applies("AVX2", vnni)
    assert not cap_applies("AVX2", ["avx2"]) and cap_applies("AVX2", ["avx2", "avx_vnni"])
