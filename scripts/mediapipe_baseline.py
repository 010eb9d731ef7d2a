"""MediaPipe's own pose pipeline on a clip, for side-by-side comparison with Vigil (run in its own venv:
mediapipe==0.10.21 pins an old numpy, so it never shares Vigil's environment).

    .cache/vigil/mediapipe-venv/bin/python scripts/mediapipe_baseline.py CLIP [--max-frames N] [--json OUT]

Runs mediapipe.solutions.pose in tracking mode (static_image_mode=False), full model (model_complexity=1), on every
frame as fast as possible, and prints JSON: frames, seconds, fps, per-frame ms p50/p95/p99 (pose only) and the
whole loop's ms per frame (decode + pose), plus how many frames had a person.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import cv2
import numpy as np


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("clip")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    import mediapipe as mp

    cap = cv2.VideoCapture(args.clip)
    if not cap.isOpened():
        print(f"mediapipe_baseline: error: cannot open {args.clip}", file=sys.stderr)
        return 2
    pose_ms, found, frames = [], 0, 0
    with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                                enable_segmentation=False) as pose:
        start = time.perf_counter()
        while args.max_frames is None or frames < args.max_frames:
            ok, image = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            t0 = time.perf_counter()
            result = pose.process(rgb)
            pose_ms.append((time.perf_counter() - t0) * 1000)
            found += result.pose_landmarks is not None
            frames += 1
        elapsed = time.perf_counter() - start
    p50, p95, p99 = np.percentile(pose_ms, [50, 95, 99]) if pose_ms else (0, 0, 0)
    out = {"peer": "mediapipe", "version": mp.__version__, "clip": args.clip, "frames": frames,
           "seconds": round(elapsed, 3), "fps": round(frames / elapsed, 2) if elapsed else 0.0,
           "loop_ms_per_frame": round(elapsed * 1000 / max(frames, 1), 3),
           "pose_ms": {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3)},
           "frames_with_person": found, "settings": "static_image_mode=False, model_complexity=1 (full)"}
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
