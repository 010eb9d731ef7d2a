"""Prometheus text exposition (format 0.0.4) of the pipeline's statistics: a pure function of a stats snapshot."""

from __future__ import annotations

from edge_app.timing import STAGES


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def render(snapshot: dict) -> str:
    """``snapshot`` is :meth:`Metrics.summary` plus ``sources`` (status, captured, reconnects per stream)."""
    out: list[str] = []

    def family(name: str, kind: str, doc: str, samples: list[tuple[dict, float]]) -> None:
        out.append(f"# HELP {name} {doc}")
        out.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            text = ",".join(f'{k}="{_label(str(v))}"' for k, v in labels.items())
            out.append(f"{name}{{{text}}} {value:g}" if text else f"{name} {value:g}")

    streams = snapshot.get("streams", {})
    sources = snapshot.get("sources", {})
    family("vigil_frames_total", "counter", "Frames processed (pose, tracking, analysis, render).",
           [({"stream": s}, v["frames"]) for s, v in streams.items()])
    family("vigil_fps", "gauge", "Frames processed per second over the recent window.",
           [({"stream": s}, v.get("recent_fps", v["fps"])) for s, v in streams.items()])
    family("vigil_dropped_frames_total", "counter", "Frames replaced by newer ones before analysis took them.",
           [({"stream": s}, v["dropped"]) for s, v in streams.items()])
    family("vigil_stage_latency_ms", "summary", "Per-stage latency of recent frames in milliseconds.",
           [({"stream": s, "stage": stage, "quantile": f"0.{q[1:]}"}, value)
            for s, v in streams.items() for stage in STAGES for q, value in v["stage_ms"][stage].items()])
    family("vigil_glass_to_render_ms", "summary", "Capture-to-rendered latency of recent frames in milliseconds.",
           [({"stream": s, "quantile": f"0.{q[1:]}"}, value)
            for s, v in streams.items() for q, value in v["glass_to_render_ms"].items()])
    family("vigil_source_up", "gauge", "1 when the source is online (status label tells which state it is in).",
           [({"stream": s, "status": v["status"]}, 1.0 if v["status"] == "online" else 0.0)
            for s, v in sources.items()])
    family("vigil_source_reconnects_total", "counter", "Times the watchdog reconnected the source.",
           [({"stream": s}, v["reconnects"]) for s, v in sources.items()])
    family("vigil_source_frames_total", "counter", "Frames read from the source.",
           [({"stream": s}, v["captured"]) for s, v in sources.items()])
    family("vigil_alerts_raised_total", "counter", "Alerts raised by the analyzers since start.",
           [({}, snapshot.get("alerts_raised", 0))])
    family("vigil_glass_to_alert_ms", "summary", "From capture of the frame that raised an alert to its dispatch, ms.",
           [({"quantile": f"0.{q[1:]}"}, value) for q, value in snapshot.get("glass_to_alert_ms", {}).items()])
    family("vigil_corrupt_frames_total", "counter", "Pictures that could not be decoded (skipped).",
           [({"stream": s}, v.get("corrupt", 0)) for s, v in sources.items()])
    family("vigil_source_frozen_frames_total", "counter", "Pictures identical to the one before (a frozen camera), "
           "never analysed.", [({"stream": s}, v.get("frozen", 0)) for s, v in sources.items()])
    io_errors = snapshot.get("io_faults", {}).get("errors", {})
    family("vigil_io_errors_total", "counter", "Failed writes per output (event log, evidence, alert outboxes); "
           "monitoring goes on.", [({"output": o}, n) for o, n in io_errors.items()])
    family("vigil_resident_memory_bytes", "gauge", "Resident memory of the Vigil process.",
           [({}, snapshot.get("rss_mb", 0.0) * 2**20)])
    return "\n".join(out) + "\n"
