"""The benchmark's Markdown report and PNG plots, made from its JSON (nothing here measures)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path


def _f(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = ["# Vigil benchmark", "",
             f"- Machine: {m['cpu']}, {m['cores']} cores; flags {' '.join(m['cpu_flags'])}; {m['system']}",
             f"- OpenVINO {m['openvino']}; devices present: {', '.join(m['openvino_devices'])}",
             f"- Command: `{r['commands']['benchmark']}` (or `{r['commands']['make']}`); MediaPipe side: "
             f"`{r['commands']['mediapipe']}`",
             f"- {r['setup']['threads']} inference threads for every engine. LATENCY: "
             f"{r['setup']['latency_method']}, {r['setup']['latency_iterations']} timed inferences each. THROUGHPUT: "
             f"{r['setup']['throughput_method']}, {r['setup']['throughput_seconds']} s each.",
             f"- Took {r.get('seconds', 0):.0f} s. Every comparison below was measured side by side in this one run.",
             ""]
    if r["ratios"]:
        lines += ["## Headline ratios", "", "| comparison | Vigil | peer | Vigil is |", "|---|---|---|---|"]
        for what, x in r["ratios"].items():
            if "fps" in x["vigil"]:
                lines.append(f"| {what} | {x['vigil']['fps']:.1f} fps | {x['peer']['fps']:.1f} fps | "
                             f"{_f(x['speedup'])}x as fast |")
            else:
                lines.append(f"| {what} | {x['vigil']['p50_ms']:.3f} ms ({x['vigil']['run']}) | "
                             f"{x['peer']['p50_ms']:.3f} ms ({x['peer']['engine']}) | {_f(x['speedup'])}x as fast |")
        lines.append("")
    if r.get("targets"):
        lines += ["## Targets", "", "The speed and latency claims Vigil makes, checked in this run on this machine.",
                  "", "| target | measured | bound | met |", "|---|---|---|---|"]
        lines += [f"| {t['target']} | {t['measured']} | {t['bound']} | {'yes' if t['met'] else '**no**'} |"
                  for t in r["targets"]]
        lines.append("")
    reconnect = r["pipeline"].get("reconnect")
    if reconnect:
        lines += ["## Reconnect", "", f"{reconnect['what']}: outages {reconnect['outages_s']} s, resumed after "
                  f"{reconnect['resume_s']} s.", ""]
    lines += ["## Models (OpenVINO)", "", "`ran as`: the precision OpenVINO actually used (`INFERENCE_PRECISION_HINT` "
              "as compiled; INT8 models run their float parts in that precision).", "",
              "| model | run | ran as | device | LATENCY p50 ms | p95 | p99 | fps | THROUGHPUT fps | requests | "
              "request p50 ms | within accuracy bound |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, runs in r["models"].items():
        for run, hints in runs.items():
            lat, thr = hints.get("LATENCY", {}), hints.get("THROUGHPUT", {})
            lines.append(f"| {name} | {run} | {lat.get('precision_ran', thr.get('precision_ran'))} | "
                         f"{lat.get('device', thr.get('device'))} | {_f(lat.get('p50_ms'), 3)} | "
                         f"{_f(lat.get('p95_ms'), 3)} | {_f(lat.get('p99_ms'), 3)} | {_f(lat.get('fps'), 0)} | "
                         f"{_f(thr.get('fps'), 0)} | {thr.get('requests_in_flight', '-')} | "
                         f"{_f(thr.get('p50_ms'), 3)} | {'yes' if lat.get('meets_bound') else 'no'} |")
    lines += ["", "## Peers (same models, same loop, same threads)", "",
              "| engine | model | p50 ms | p95 ms | p99 ms | fps | what ran |", "|---|---|---|---|---|---|---|"]
    for peer, per_model in r["peers"].items():
        for name, s in per_model.items():
            lines.append(f"| {s.get('engine', peer)} | {name} | {s['p50_ms']:.3f} | {s['p95_ms']:.3f} | "
                         f"{s['p99_ms']:.3f} | {s['fps']:.0f} | {s.get('graph', s.get('model_file', ''))} |")
    scenarios = {k: v for k, v in r["pipeline"].items() if k.startswith("streams_")}
    if scenarios:
        lines += ["", "## Pipeline: camera streams at once", "",
                  "Fall clips of UP-Fall (640x480) played at their own rate, looped, as live cameras; every analyzer "
                  "on; no display. Threads per inference: "
                  + ", ".join(f"{s['streams']} stream(s): {s.get('inference_threads', '?')}"
                              for s in scenarios.values())
                  + " (`inference.threads`).", "",
                  "| streams | fps (all) | fps per stream | dropped | pose p50/p95 ms | analysis p50 ms | "
                  "glass-to-render p50/p95/p99 ms | glass-to-alert p50/p95 ms (alerts) | CPU % (200 = both cores) | "
                  "RSS MB |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for s in scenarios.values():
            per = list(s["fps_per_stream"].values())
            g, a = s["glass_to_render_ms"], s["glass_to_alert_ms"]
            label = f"{s['streams']} ({s['config']})" if "config" in s else str(s["streams"])
            lines.append(
                f"| {label} | {s['fps']:.1f} | {min(per):.1f}-{max(per):.1f} (source {s['source_fps']}) | "
                f"{s['dropped']} | {s['stage_ms']['pose']['p50']:.1f}/{s['stage_ms']['pose']['p95']:.1f} | "
                f"{s['stage_ms']['analysis']['p50']:.2f} | {g['p50']:.0f}/{g['p95']:.0f}/{g['p99']:.0f} | "
                f"{a['p50']:.1f}/{a['p95']:.1f} ({s['alerts_raised']}) | {s['cpu_pct']:.0f} | {s['rss_mb']:.0f} |")
    people = r["pipeline"].get("people")
    if people:
        lines += ["", f"## Pose stage against people in view ({people['clip']}, {people['frames']} frames, every "
                  f"frame; the whole loop ran at {people['fps']:.1f} fps)", "",
                  "| people tracked | frames | pose p50 ms | pose p95 ms |", "|---|---|---|---|"]
        for k, s in people["by_people"].items():
            lines.append(f"| {k} | {s['frames']} | {s['p50']:.2f} | {s['p95']:.2f} |")
    cctv = r["pipeline"].get("cctv_realtime")
    if cctv:
        g, st = cctv["glass_to_render_ms"], cctv["stage_ms"]
        lines += ["", f"## The CCTV config in real time ({cctv['clip']} at its {cctv['source_fps']} fps, finder "
                  f"{cctv['finder']}, tiles {cctv['tiles']})", "",
                  "| fps | dropped | pose p50/p95 ms | tracking p50 ms | analysis p50 ms | "
                  "glass-to-render p50/p95/p99 ms | CPU % (200 = both cores) | RSS MB |",
                  "|---|---|---|---|---|---|---|---|",
                  f"| {cctv['fps']:.1f} | {cctv['dropped']} | {st['pose']['p50']:.1f}/{st['pose']['p95']:.1f} | "
                  f"{st['tracking']['p50']:.2f} | {st['analysis']['p50']:.2f} | {g['p50']:.0f}/{g['p95']:.0f}/"
                  f"{g['p99']:.0f} | {cctv['cpu_pct']:.0f} | {cctv['rss_mb']:.0f} |"]
    versus = r["pipeline"].get("vigil_vs_mediapipe")
    if versus:
        lines += ["", f"## Vigil's loop and MediaPipe's pipeline on the same clip ({versus['clip']}, "
                  f"{versus['frames']} frames, run alternately)", "",
                  "| | fps per round | median ms per frame | what ran |", "|---|---|---|---|"]
        for side in ("vigil", "mediapipe"):
            s = versus[side]
            lines.append(f"| {side} | {', '.join(f'{x:.1f}' for x in s['fps'])} | "
                         f"{statistics.median(s['loop_ms_per_frame']):.2f} | {s['what']} |")
        lines.append(f"\nRatio per round: {', '.join(str(x) for x in versus['per_round_ratio'])}.")
    prep = r.get("preprocessing")
    if prep:
        lines += ["", "## Input conversion: on the host against inside the model (PrePostProcessor)", "",
                  "p50 ms of [BGR->RGB, to float, scale on the host + inference] and of [inference of the model with "
                  "the same steps folded in, fed the uint8 patch], interleaved. The crop (`cv2.warpAffine`: rotated "
                  "ROI, letterboxed view) stays on the host.", "",
                  "| model | run | host + infer | in model | saved ms |", "|---|---|---|---|---|"]
        for name, runs in prep.items():
            for run, sides in runs.items():
                lines.append(f"| {name} | {run} | {sides['host']['p50_ms']:.3f} | {sides['in_model']['p50_ms']:.3f} "
                             f"| {sides['saved_ms']:.3f} |")
    caps = r.get("isa_caps")
    if caps:
        names = sorted({n for c in caps.values() for n in c.get("models", {})})
        lines += ["", "## INT8 against f32 as on other Intel CPUs (`ONEDNN_MAX_CPU_ISA` capped)", "",
                  "Each cap in a process of its own; p50 ms of f32 / INT8 (LATENCY hint, 2 threads, interleaved) and "
                  "INT8's speed-up. `none`: this CPU uncapped. A cap above this CPU's instruction set changes "
                  "nothing.", "", "| cap | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for cap, c in caps.items():
            if "error" in c:
                lines.append(f"| {cap} | does not run: {c['error']} |" + " |" * (len(names) - 1))
                continue
            cells = []
            for n in names:
                m = c["models"].get(n, {})
                cells.append(m["error"] if "error" in m else
                             f"{m['f32']['p50_ms']:.2f} / {m['int8']['p50_ms']:.2f} ({m['int8_speedup']:.2f}x)"
                             if "int8_speedup" in m else "-")
            label = cap if c["applies"] else f"{cap} (this CPU's own set or above: no effect)"
            if c.get("note", "").startswith("this CPU lacks"):
                label += " (runs as the next lower set here)"
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if r["skipped"]:
        lines += ["", "## Not measured", ""] + [f"- {s}" for s in r["skipped"]]
    if r.get("plots"):
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in r["plots"]]
    lines += ["", "Notes: LiteRT runs the TFLite files as MediaPipe ships them; its landmark graphs also compute the "
              "segmentation mask and heatmap that Vigil's IR leaves out (the runtime never uses them), so that is part "
              "of the difference. MediaPipe's pipeline chooses its own threads. CPU % counts all of Vigil's threads "
              "(200 % = both cores).", "", f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')}.", ""]
    return "\n".join(lines)


def plots(r: dict, out_dir: Path) -> list[str]:
    """benchmark_models.png, benchmark_streams.png, benchmark_people.png; [] when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        r["skipped"].append("plots: matplotlib is not installed (`pip install -e '.[bench]'`)")
        return []
    made = []
    names = list(r["models"])
    engines = ["f32", "bf16", "int8"] + list(r["peers"])
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(engines)
    for i, engine in enumerate(engines):
        values = [(r["peers"][engine].get(n, {}).get("p50_ms") if engine in r["peers"] else
                   r["models"][n].get(engine, {}).get("LATENCY", {}).get("p50_ms")) for n in names]
        xs = [j + i * width for j, v in enumerate(values) if v]
        ax.bar(xs, [v for v in values if v], width, label=engine)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(names))], [n.replace("pose_", "") for n in names])
    ax.set_yscale("log")
    ax.set_ylabel("p50 latency, ms (log)")
    ax.set_title("Model latency, LATENCY hint, side by side")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "benchmark_models.png", dpi=100)
    plt.close(fig)
    made.append("benchmark_models.png")
    scenarios = [v for k, v in r["pipeline"].items() if k.startswith("streams_") and "config" not in v]
    if scenarios:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
        counts = [s["streams"] for s in scenarios]
        a1.plot(counts, [min(s["fps_per_stream"].values()) for s in scenarios], "o-", label="slowest stream")
        a1.plot(counts, [s["source_fps"] for s in scenarios], "k--", label="source rate")
        a1.set_xlabel("streams")
        a1.set_ylabel("frames per second per stream")
        a1.legend()
        for q in ("p50", "p95", "p99"):
            a2.plot(counts, [s["glass_to_render_ms"][q] for s in scenarios], "o-", label=f"glass-to-render {q}")
        a2.set_xlabel("streams")
        a2.set_ylabel("ms")
        a2.legend()
        fig.suptitle("Pipeline scaling")
        fig.tight_layout()
        fig.savefig(out_dir / "benchmark_streams.png", dpi=100)
        plt.close(fig)
        made.append("benchmark_streams.png")
    people = r["pipeline"].get("people")
    if people:
        fig, ax = plt.subplots(figsize=(6, 4))
        ks = [int(k) for k in people["by_people"]]
        ax.plot(ks, [people["by_people"][str(k)]["p50"] for k in ks], "o-", label="p50")
        ax.plot(ks, [people["by_people"][str(k)]["p95"] for k in ks], "o-", label="p95")
        ax.set_xlabel("people in view")
        ax.set_ylabel("pose stage, ms per frame")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "benchmark_people.png", dpi=100)
        plt.close(fig)
        made.append("benchmark_people.png")
    return made
