"""Per-model latency and throughput: every built model x every precision it runs in x both performance hints, on
every OpenVINO device present, with the peers (LiteRT, ONNX Runtime) on the same model interleaved in the same loop.

LATENCY: one synchronous inference at a time, all candidates of a model round-robin (so a noisy machine slows them
all alike). THROUGHPUT: OpenVINO's THROUGHPUT hint with its optimal number of requests kept busy (AsyncInferQueue);
the candidates take turns in short bursts. Inputs are random: these models' cost does not depend on the values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import openvino as ov

from edge_app.bench.peers import Peer
from edge_app.inference.latency import infer_call, measure_calls_interleaved, random_inputs, stats_from_ms
from edge_app.inference.model_store import ModelStore, Run
from edge_app.inference.runtime import CompiledModel, Runtime


@dataclass(frozen=True)
class Plan:
    iterations: int  # LATENCY: timed inferences per candidate
    warmup: int
    throughput_s: float  # THROUGHPUT: seconds per candidate, split into bursts
    bursts: int


QUICK = Plan(iterations=40, warmup=8, throughput_s=0.6, bursts=2)  # the suite's run: the schema, measured
FULL = Plan(iterations=400, warmup=30, throughput_s=3.0, bursts=3)


def precision_ran(run: Run, compiled: CompiledModel) -> str:
    return f"int8 (float parts {compiled.precision})" if run.variant == "int8" else compiled.precision


def runs_for(store: ModelStore, name: str, runtime: Runtime) -> list[Run]:
    return [r for r in store.runs(name) if r.precision_hint is None or runtime.supports(r.precision_hint)]


def key(run: Run, device: str) -> str:
    return run.name if device == "CPU" else f"{run.name}@{device}"


def latency(store: ModelStore, name: str, devices: list[str], threads: int, plan: Plan,
            peers: list[Peer]) -> tuple[dict, dict]:
    """LATENCY-hint figures of model ``name`` on each device and of each peer, in one interleaved loop.
    Returns ({precision: stats}, {peer: stats})."""
    calls, described, feeds = {}, {}, None
    for device in devices:
        runtime = Runtime(device, "LATENCY", threads=threads)
        for run in runs_for(store, name, runtime):
            compiled = runtime.compile(run.path, run.precision_hint)
            feeds = feeds or random_inputs(compiled)
            calls[key(run, device)] = infer_call(compiled, feeds)
            described[key(run, device)] = {"precision_ran": precision_ran(run, compiled), "device": compiled.device,
                                           "meets_bound": run.meets_bound}
    for peer in peers:
        calls[f"peer:{peer.name}"] = peer.call([feeds[i] for i in sorted(feeds)] if feeds else None)
    stats = measure_calls_interleaved(calls, iterations=plan.iterations, warmup=plan.warmup)
    ours = {k: {**stats[k].as_dict(), **described[k]} for k in described}
    theirs = {p.name: {**stats[f"peer:{p.name}"].as_dict(), **p.describe()} for p in peers}
    return ours, theirs


def _burst(compiled: ov.CompiledModel, feeds: dict, seconds: float, requests: int, latencies: list) -> int:
    """Keep ``requests`` inferences in flight for ``seconds``, in turn (no Python callbacks: OpenVINO's callback
    thread and a start_async waiting for a free request deadlocked on the GIL here). Each request's own latency is
    OpenVINO's ``InferRequest.latency``."""
    pool = [compiled.create_infer_request() for _ in range(requests)]
    for request in pool:
        request.start_async(feeds, share_inputs=True)
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for request in pool:
            request.wait()
            latencies.append(request.latency)
            count += 1
            request.start_async(feeds, share_inputs=True)
    for request in pool:
        request.wait()
        latencies.append(request.latency)
        count += 1
    return count


def throughput(store: ModelStore, name: str, devices: list[str], threads: int, plan: Plan) -> dict:
    """THROUGHPUT-hint figures: fps with the device's optimal number of requests in flight, and the latency of
    each request (which grows with the parallelism: the price of throughput)."""
    candidates = {}
    for device in devices:
        runtime = Runtime(device, "THROUGHPUT", threads=threads)
        for run in runs_for(store, name, runtime):
            compiled = runtime.compile(run.path, run.precision_hint)
            requests = int(compiled.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            candidates[key(run, device)] = (compiled, random_inputs(compiled), requests, precision_ran(run, compiled))
    results = {k: {"latencies": [], "count": 0, "seconds": 0.0} for k in candidates}
    for compiled, feeds, requests, _ in candidates.values():  # warm-up
        _burst(compiled.compiled, feeds, 0.1, requests, [])
    for _ in range(plan.bursts):
        for k, (compiled, feeds, requests, _) in candidates.items():
            t0 = time.perf_counter()
            results[k]["count"] += _burst(compiled.compiled, feeds, plan.throughput_s / plan.bursts, requests,
                                          results[k]["latencies"])
            results[k]["seconds"] += time.perf_counter() - t0
    out = {}
    for k, r in results.items():
        stats = stats_from_ms(r["latencies"]).as_dict()
        compiled, _, requests, ran = candidates[k]
        out[k] = {**stats, "fps": round(r["count"] / r["seconds"], 1) if r["seconds"] else 0.0,
                  "requests_in_flight": requests, "precision_ran": ran, "device": compiled.device}
    return out


def model_source(store: ModelStore, name: str, cache: Path) -> tuple[str, Path] | None:
    """The model's original file for the peers: ('tflite', path) for the BlazePose models (the fetch cache), or
    ('onnx', path) for the PyTorch-trained ones (the ONNX export `convert build` writes next to the IR)."""
    record = store.models.get(name)
    source = record.source if record is not None else None
    if isinstance(source, dict) and str(source.get("file", "")).endswith(".tflite"):
        path = cache / source["file"]
        return ("tflite", path) if path.is_file() else None
    onnx = store.root / name / "onnx" / "model.onnx"
    return ("onnx", onnx) if onnx.is_file() else None


def preprocessing(store: ModelStore, name: str, prepare, image_input, threads: int, plan: Plan,
                  runs: tuple[str, ...] = ("f32", "int8")) -> dict:
    """The input conversion on the host against inside the model (PrePostProcessor), per run of image model
    ``name`` (those of ``runs`` it has): p50 of [host conversion + inference of the IR as built] and of [inference
    of the prepared IR on the uint8 patch], measured interleaved. ``prepare``/``image_input``: the model class's
    (inference/model.py)."""
    from edge_app.inference.preprocessing import host_input

    runtime = Runtime("CPU", "LATENCY", threads=threads)
    calls, out = {}, {}
    for run in runs_for(store, name, runtime):
        if run.name not in runs:
            continue
        raw = runtime.compile(run.path, run.precision_hint)
        inside = runtime.compile(run.path, run.precision_hint, prepare)
        patch = random_inputs(inside)[0]
        raw_request, inside_request = raw.create_request(), inside.create_request()
        calls[f"{run.name}:host"] = lambda r=raw_request, p=patch: r.infer({0: host_input(p, image_input)})
        calls[f"{run.name}:in_model"] = lambda r=inside_request, p=patch: r.infer({0: p})
    stats = measure_calls_interleaved(calls, iterations=plan.iterations, warmup=plan.warmup)
    for key_, s in stats.items():
        run, where = key_.split(":")
        out.setdefault(run, {})[where] = s.as_dict()
    for sides in out.values():
        sides["saved_ms"] = round(sides["host"]["p50_ms"] - sides["in_model"]["p50_ms"], 4)
    return out
