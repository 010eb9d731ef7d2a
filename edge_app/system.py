"""What machine this is: CPU model and the instruction sets that decide OpenVINO's precisions, for reports."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import openvino as ov

RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile",
                  "avx512_fp16")


def machine() -> dict:
    cpu, flags = platform.processor() or "unknown", []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = [f for f in line.split(":", 1)[1].split() if f in RELEVANT_FLAGS]
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpu_flags": flags, "cores": os.cpu_count(), "system": platform.platform(),
            "openvino": ov.get_version(), "python": platform.python_version()}
