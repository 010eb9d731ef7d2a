"""The benchmark's camera-streams scenario on its own, repeated, with configs taken in turn (side by side).

    .venv/bin/python scripts/streams_alone.py [--streams 8] [--seconds 20] [--rounds 3] [--config A.yaml ...]

N of UP-Fall's fall clips (../shared/data/falls/upfall_s1) played at their own 18 fps and looped, as live cameras,
every analyzer on, nothing drawn or written (edge_app/bench/scenarios.py, as ``make benchmark`` runs it). Each round
runs every config once, in the order given, each in a process of its own so no run inherits another's threads or
memory; one line per run: frames per second in all and of the slowest stream, frames dropped, CPU (200 % = both
cores) and glass-to-render p99. On a shared machine whose speed drifts, compare configs within a round.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def one_run(streams: int, seconds: float, config: str | None) -> dict:
    """The scenario once, in this process: its summary (see scenarios.measure)."""
    sys.path.insert(0, str(REPO))
    from edge_app.app import build_pose_stack
    from edge_app.bench import scenarios, stream_clips
    from edge_app.config import load_config
    from edge_app.errors import VigilError

    cfg = load_config(Path(config) if config else None)
    clips = stream_clips()
    if not clips:
        raise VigilError("needs UP-Fall's clips in ../shared/data/falls/upfall_s1")
    result = scenarios.streams_scenario(cfg, build_pose_stack(cfg, streams), clips, streams, seconds)
    return {"fps": result["fps"], "slowest_stream_fps": min(result["fps_per_stream"].values()),
            "dropped": result["dropped"], "frames": result["frames"], "cpu_pct": result["cpu_pct"],
            "glass_to_render_p99_ms": result["glass_to_render_ms"]["p99"],
            "inference_threads": result["inference_threads"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--config", action="append", help="a YAML config (repeatable; default: the default config)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one run, JSON on stdout
    args = ap.parse_args()
    if args.streams < 1 or args.seconds <= 0 or args.rounds < 1:
        print("streams_alone: --streams, --seconds and --rounds must be positive", file=sys.stderr)
        return 2
    configs = args.config or [None]
    for path in configs:
        if path is not None and not Path(path).is_file():
            print(f"streams_alone: {path}: no such config file", file=sys.stderr)
            return 2
    if args.child:
        from edge_app.errors import VigilError

        try:
            print(json.dumps(one_run(args.streams, args.seconds, configs[0])))
        except VigilError as exc:
            print(f"streams_alone: {exc}", file=sys.stderr)
            return 2
        return 0
    for r in range(args.rounds):
        for path in configs:
            cmd = [sys.executable, __file__, "--child", "--streams", str(args.streams), "--seconds",
                   str(args.seconds)] + (["--config", path] if path else [])
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                print((done.stderr.strip().splitlines() or ["failed"])[-1], file=sys.stderr)
                return done.returncode
            s = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"round {r + 1} {path or 'default config'}: {s['fps']} fps in all, slowest stream "
                  f"{s['slowest_stream_fps']}, dropped {s['dropped']} of {s['frames'] + s['dropped']}, CPU "
                  f"{s['cpu_pct']} %, glass-to-render p99 {s['glass_to_render_p99_ms']} ms "
                  f"({s['inference_threads']} thread(s) per inference)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
