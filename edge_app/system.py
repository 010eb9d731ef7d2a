"""What machine this is (CPU model and the instruction sets that decide OpenVINO's precisions, for reports), and the
threads' CPU priorities."""

from __future__ import annotations

import os
import platform
import threading
from pathlib import Path

import openvino as ov

RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile",
                  "avx512_fp16")


def _cpuinfo() -> tuple[str | None, list[str]]:
    """(CPU model name, the RELEVANT_FLAGS it has) from /proc/cpuinfo; (None, []) where it cannot be read."""
    cpu, flags = None, []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = [f for f in line.split(":", 1)[1].split() if f in RELEVANT_FLAGS]
                break
    except OSError:
        pass
    return cpu, flags


def machine() -> dict:
    cpu, flags = _cpuinfo()
    return {"cpu": cpu or platform.processor() or "unknown", "cpu_flags": flags, "cores": os.cpu_count(),
            "system": platform.platform(), "openvino": ov.get_version(), "python": platform.python_version()}


# oneDNN's ONEDNN_MAX_CPU_ISA caps (docs: "CPU Dispatcher Control") that leave INT8 without dot-product instructions
NO_INT8_DOT_CAPS = ("AVX512_CORE", "AVX2", "AVX", "SSE41")


def int8_dot_product(cpu_flags: list[str], isa_cap: str | None = None) -> bool:
    """Whether INT8 inference here has dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX: ``cpu_flags`` as in
    /proc/cpuinfo), under oneDNN's ``isa_cap`` (ONEDNN_MAX_CPU_ISA, None: no cap). Without them oneDNN multiplies
    u8 by s8 with vpmaddubsw, whose 16-bit sums saturate: INT8 accuracy proven on a VNNI machine does not carry over
    (NNCF's "overflow fix" addresses it for the first layer only)."""
    if isa_cap is not None and isa_cap.upper() in NO_INT8_DOT_CAPS:
        return False
    return any(f in cpu_flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


def int8_dot_product_here() -> bool:
    """int8_dot_product of this CPU under this process's ONEDNN_MAX_CPU_ISA."""
    return int8_dot_product(_cpuinfo()[1], os.environ.get("ONEDNN_MAX_CPU_ISA"))


# Linux nice increments (per thread) for the work beside the critical path. The pipeline thread and OpenVINO's
# inference threads keep the process's priority: a frame's latency is their sum, while decoding waits in a slot that
# keeps the newest frame and drawing drops frames a viewer would not see. Measured with eight 18-fps streams on two
# cores (`make benchmark`'s streams_8): capture and render at the same priority as inference 125-131 fps in all and
# 313-462 dropped in 25 s; capture +5 and render +10, 136 fps and 69-112 dropped.
CAPTURE_NICE = 5
RENDER_NICE = 10


def lower_thread_priority(increment: int) -> None:
    """Lower the calling thread's CPU priority by ``increment`` nice levels (Linux: nice is per thread; threads it
    starts inherit it, such as FFmpeg's decoder threads). Does nothing where that is not possible."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
    except (OSError, AttributeError):  # not Linux, or not allowed: priorities stay as they are
        pass
