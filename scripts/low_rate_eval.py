"""Fall and fatigue alerts of the whole pipeline at low frame rates, on the held-back clips thinned to N fps.

    .venv/bin/python scripts/low_rate_eval.py [--rates 5 2 1] [--out .cache/vigil/low_rate]

Each clip of configs/clips/falls_test.json is re-encoded keeping every n-th picture at its own timestamp (what a
camera set to a low rate, or a box too loaded to take every frame, delivers), then `python -m edge_app evaluate`
runs on each rate. Prints one line per rate: falls alerted of the fall clips, extra alerts, false falls and fatigue
alerts on the daily-activity clips, and the analyzers paused (per clip log lines).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av

REPO = Path(__file__).resolve().parent.parent


def thin(src: Path, dst: Path, rate: float) -> None:
    """``src`` with one picture in round(fps / rate) kept, at its original timestamp (H.264)."""
    with av.open(str(src)) as box:
        step = max(1, round(float(box.streams.video[0].average_rate) / rate))
        pictures = [(f.to_ndarray(format="bgr24"), float(f.time)) for i, f in enumerate(box.decode(video=0))
                    if i % step == 0]
    time_base = Fraction(1, 90000)
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(rate).limit_denominator(1000))
        stream.height, stream.width = pictures[0][0].shape[:2]
        stream.pix_fmt, stream.time_base = "yuv420p", time_base
        stream.codec_context.time_base = time_base  # else the encoder rounds timestamps to its frame rate
        for image, pts in pictures:
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = int(round(pts / time_base)), time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", type=float, nargs="+", default=[5.0, 2.0, 1.0])
    p.add_argument("--clips", type=Path, default=REPO / "configs" / "clips" / "falls_test.json")
    p.add_argument("--labels", type=Path, default=REPO.parent / "shared" / "data" / "falls" / "urfd" /
                   "urfall-cam0-falls.csv")
    p.add_argument("--out", type=Path, default=REPO / ".cache" / "vigil" / "low_rate")
    args = p.parse_args()
    clips = json.loads(args.clips.read_text())
    for rate in args.rates:
        folder = args.out / f"{rate:g}fps"
        folder.mkdir(parents=True, exist_ok=True)
        listed = []
        for clip in clips:
            dst = folder / f"{clip['name']}.mp4"
            if not dst.exists():
                thin((args.clips.parent / clip["path"]).resolve(), dst, rate)
            listed.append({**clip, "path": str(dst)})
        (folder / "clips.json").write_text(json.dumps(listed, indent=1))
        proc = subprocess.run([sys.executable, "-m", "edge_app", "evaluate", "--clips", str(folder / "clips.json"),
                               "--labels", str(args.labels), "--json", str(folder / "eval.json")], cwd=REPO,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            return proc.returncode
        t = json.loads((folder / "eval.json").read_text())["totals"]
        paused = proc.stderr.count("alerts are paused")
        print(f"{rate:g} fps: falls alerted {t['falls_alerted']}/{t['fall_clips']} (missed {t['missed']}), "
              f"extra alerts {t['extra_fall_alerts_in_fall_clips']}, false falls {t['false_fall_alerts']}, "
              f"fatigue on daily activities {t['fatigue_alerts_adl']}, analyzer pauses logged {paused}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
