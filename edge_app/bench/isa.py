"""What INT8 buys on other Intel CPUs: the pose models' f32 and INT8 runs measured under ``ONEDNN_MAX_CPU_ISA`` caps.

oneDNN, under OpenVINO's CPU plugin, picks its kernels for the most capable instruction set the CPU has; the
environment variable ``ONEDNN_MAX_CPU_ISA`` caps that choice, so one machine can show how the same models run on a
CPU without AMX (``AVX512_CORE_VNNI``: Ice Lake, Cascade Lake), without VNNI (``AVX512_CORE``: Skylake-SP) or without
AVX-512 (``AVX2_VNNI``: Alder Lake E-cores, ``AVX2``: older Core and Atom). oneDNN reads the cap once, when it
starts, so each cap runs in a child process of its own: ``python -m edge_app.bench.isa --cap CAP MODELS_DIR``, which
prints one JSON object. A cap that cannot run the models (a kernel missing under it) is reported with OpenVINO's
reason, not hidden. Caps above what this CPU has change nothing and are marked so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

# From most to least capable; the names are oneDNN's (docs: "CPU Dispatcher Control", ONEDNN_MAX_CPU_ISA).
CAPS = ("AVX512_CORE_AMX", "AVX512_CORE_VNNI", "AVX512_CORE", "AVX2_VNNI", "AVX2")
# The CPU flag (Linux /proc/cpuinfo) a cap needs to mean anything here.
CAP_NEEDS = {"AVX512_CORE_AMX": "amx_int8", "AVX512_CORE_VNNI": "avx512_vnni", "AVX512_CORE": "avx512f",
             "AVX2_VNNI": "avx_vnni", "AVX2": "avx2"}
MODELS = ("pose_landmark_full", "pose_detector", "person_finder")


def cap_applies(cap: str, cpu_flags: list[str]) -> bool:
    """Whether capping oneDNN at ``cap`` changes anything on a CPU with ``cpu_flags``: only a cap below the most
    capable instruction set the CPU has (a CPU without ``avx_vnni`` capped at AVX2_VNNI runs AVX2)."""
    have = [c for c in CAPS if CAP_NEEDS[c] in cpu_flags]
    if not have:
        return False
    return CAPS.index(cap) > CAPS.index(have[0])


def measure_here(models_dir: Path, models: tuple[str, ...], iterations: int) -> dict:
    """In this process (whatever cap it was started with): each model's f32 and int8 runs, interleaved, LATENCY hint,
    2 threads. Returns {model: {"f32": stats, "int8": stats, "int8_speedup": x}} or {model: {"error": reason}}."""
    from edge_app.errors import VigilError
    from edge_app.inference.latency import measure_interleaved
    from edge_app.inference.model_store import ModelStore
    from edge_app.inference.runtime import Runtime

    store = ModelStore(models_dir)
    runtime = Runtime("CPU", "LATENCY", threads=2)
    out: dict = {}
    for name in models:
        if name not in store.models:
            continue
        try:
            compiled = {run.name: runtime.compile(run.path, "f32") for run in store.runs(name)
                        if run.name in ("f32", "int8")}
            stats = measure_interleaved(compiled, iterations=iterations, warmup=10)
        except (VigilError, RuntimeError) as exc:
            out[name] = {"error": str(exc).splitlines()[0][:300]}
            continue
        out[name] = {run: s.as_dict() for run, s in stats.items()}
        if "f32" in stats and "int8" in stats:
            out[name]["int8_speedup"] = round(stats["f32"].p50_ms / stats["int8"].p50_ms, 2)
    return out


def run_caps(models_dir: Path, cpu_flags: list[str], iterations: int, caps: tuple[str, ...] = CAPS,
             timeout_s: float = 600.0, models: tuple[str, ...] = MODELS) -> dict:
    """Each cap in a child process measuring ``models`` (of MODELS); {cap: {"applies": bool, "models": {...}} or
    {"error": reason}}, plus "none" (no cap: what this CPU does by itself)."""
    results: dict = {}
    for cap in ("none", *caps):
        env = dict(os.environ)
        env.pop("ONEDNN_MAX_CPU_ISA", None)
        if cap != "none":
            env["ONEDNN_MAX_CPU_ISA"] = cap
        entry: dict = {"applies": cap == "none" or cap_applies(cap, cpu_flags)}
        try:
            proc = subprocess.run([sys.executable, "-m", "edge_app.bench.isa", "--iterations", str(iterations),
                                   "--models", ",".join(models), str(models_dir)],
                                  env=env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            entry["error"] = f"did not finish in {timeout_s:.0f} s"
            results[cap] = entry
            continue
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            entry["error"] = (lines[-1] if lines else f"exit status {proc.returncode}")[:300]
        else:
            entry["models"] = json.loads(proc.stdout.strip().splitlines()[-1])
        if not entry["applies"]:
            entry["note"] = "at or above this CPU's instruction set: the cap changes nothing here"
        elif cap != "none" and CAP_NEEDS[cap] not in cpu_flags:
            entry["note"] = f"this CPU lacks {CAP_NEEDS[cap]}: runs as the next lower instruction set it has"
        results[cap] = entry
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_app.bench.isa",
                                     description="f32 and INT8 latency of the pose models under this process's "
                                                 "ONEDNN_MAX_CPU_ISA (one JSON line on stdout)")
    parser.add_argument("models_dir", type=Path)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    args = parser.parse_args(argv)
    models = tuple(m for m in args.models.split(",") if m)
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"--models: {', '.join(unknown)} not among {', '.join(MODELS)}")
    print(json.dumps(measure_here(args.models_dir, models, args.iterations)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
