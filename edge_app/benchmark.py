"""`python -m edge_app benchmark`: model latency per run (f32, bf16, int8) measured side by side, saved as
reports/benchmark.json and reports/benchmark.md. (Peers and the end-to-end pipeline come with issue 6.)"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from edge_app.inference.latency import measure_interleaved
from edge_app.inference.model_store import ModelStore
from edge_app.inference.runtime import Runtime
from edge_app.system import machine

REPO = Path(__file__).resolve().parent.parent


def run(models_dir: Path, out_dir: Path, quick: bool, threads: int = 2) -> dict:
    store = ModelStore(models_dir)
    iterations = 100 if quick else 500
    result: dict = {"machine": machine(), "setup": {"threads": threads, "hint": "LATENCY", "iterations": iterations,
                                                    "method": "synchronous infer, runs interleaved round-robin"},
                    "command": " ".join(["python -m edge_app benchmark"] + (["--quick"] if quick else [])),
                    "models": {}}
    runtime = Runtime("CPU", "LATENCY", threads=threads)
    for name in sorted(store.models):
        runs = {r.name: r for r in store.runs(name)
                if r.precision_hint is None or runtime.supports(r.precision_hint)}
        compiled = {n: runtime.compile(r.path, r.precision_hint) for n, r in runs.items()}
        print(f"{name}: measuring {', '.join(compiled)} ...", file=sys.stderr, flush=True)
        stats = measure_interleaved(compiled, iterations=iterations, warmup=20)
        result["models"][name] = {
            n: {"LATENCY": {**stats[n].as_dict(), "precision_ran": compiled[n].precision if n != "int8" else
                            f"int8 (float parts {compiled[n].precision})", "meets_bound": runs[n].meets_bound}}
            for n in compiled}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "benchmark.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "benchmark.md").write_text(markdown(result))
    return result


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = ["# Vigil benchmark", "", f"Machine: {m['cpu']}, {m['cores']} cores, OpenVINO {m['openvino']}; "
             f"flags: {' '.join(m['cpu_flags'])}", "", f"Command: `{result['command']}` "
             f"({result['setup']['threads']} threads, LATENCY hint, {result['setup']['iterations']} inferences "
             f"per run, runs interleaved)", "", "| model | run | ran as | p50 ms | p95 ms | p99 ms | fps | within "
             "accuracy bound |", "|---|---|---|---|---|---|---|---|"]
    for name, runs in result["models"].items():
        for run_name, hints in runs.items():
            s = hints["LATENCY"]
            lines.append(f"| {name} | {run_name} | {s['precision_ran']} | {s['p50_ms']:.3f} | {s['p95_ms']:.3f} | "
                         f"{s['p99_ms']:.3f} | {s['fps']:.0f} | {'yes' if s['meets_bound'] else 'no'} |")
    lines.append(f"\nGenerated {time.strftime('%Y-%m-%d %H:%M:%S')}.\n")
    return "\n".join(lines)
