"""The fatigue analyzer (runtime code, OpenVINO model) on semi-synthetic fatigued versions of held-back sequences:
the only check of fatigue recall possible without labelled fatigue footage. Used by the tests and the README's
figures (`python -m convert.train.fatigue_check`)."""

from __future__ import annotations

import json
import sys
from collections import deque
from types import SimpleNamespace

import numpy as np

from convert.train.clips import shared_clips
from convert.train.extract import Sequence, extract
from convert.train.synthetic import fatigued_variant, reading_variant
from edge_app.analysis.fatigue import FatigueAnalyzer
from edge_app.analysis.posture import PostureAnalyzer


def replay(analyzers, times: np.ndarray, lm: np.ndarray, world: np.ndarray) -> list:
    """One person's sequence through the analyzers, as the pipeline calls them frame by frame."""
    track = SimpleNamespace(id=1, history=deque(maxlen=900), state={}, first_seen=float(times[0]))
    events = []
    for t, l, w in zip(times, lm, world):
        xy = l[:, :2]
        track.smoothed, track.pose = l, SimpleNamespace(world=w)
        track.box = (xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max())
        track.history.append((float(t), l.astype(np.float32), w.astype(np.float32), 1.0))
        for analyzer in analyzers:
            events += analyzer.update(track, "check", float(t), float(t))
    return events


def check(model, split: str = "test", activities=(7, 8), variants: int = 5, seed: int = 0) -> dict:
    """Per base sequence: fatigue alerts on it as is, on 'reading' variants, and on fatigued variants."""
    rng = np.random.default_rng(seed)
    clips = [c for c in shared_clips() if c.split == split and c.kind == "adl" and int(c.name[8:10]) in activities]
    seqs: dict[str, Sequence] = extract(clips, progress=False)
    rows = []
    for clip in clips:
        seq = seqs[clip.name].track(seqs[clip.name].subject)
        t, lm, wd = seq.times, seq.landmarks.astype(np.float64), seq.world.astype(np.float64)

        def alerts(a, b, t=t):
            return [e for e in replay([PostureAnalyzer(), FatigueAnalyzer(model)], t, a, b)
                    if e.type == "fatigue" and e.state == "raised"]
        row = {"clip": clip.name, "seconds": round(float(t[-1] - t[0]), 1), "original_alerts": len(alerts(lm, wd)),
               "reading_alerts": 0, "fatigued": []}
        for _ in range(variants):
            rlm, rwd, _ = reading_variant(t, lm, wd, rng)
            row["reading_alerts"] += len(alerts(rlm, rwd))
            flm, fwd, ramp, recipe = fatigued_variant(t, lm, wd, rng)
            got = alerts(flm, fwd)
            row["fatigued"].append({"alerted": bool(got), "onset_s": recipe["onset_s"],
                                    "delay_s": round(got[0].media_time - recipe["onset_s"], 1) if got else None,
                                    "signs": [k for k in recipe if k != "onset_s"]})
        rows.append(row)
    fatigued = [f for r in rows for f in r["fatigued"]]
    return {"split": split, "activities": list(activities), "sequences": rows,
            "fatigued_variants": len(fatigued), "fatigued_alerted": sum(f["alerted"] for f in fatigued),
            "original_alerts": sum(r["original_alerts"] for r in rows),
            "reading_alerts": sum(r["reading_alerts"] for r in rows),
            "median_delay_from_onset_s": float(np.median([f["delay_s"] for f in fatigued if f["delay_s"] is not None]))
            if any(f["alerted"] for f in fatigued) else None}


def main() -> int:
    from edge_app.analysis.sequence_model import SequenceModel
    from edge_app.config import load_config
    from edge_app.inference.model_store import ModelStore
    from edge_app.inference.runtime import Runtime

    cfg = load_config()
    store = ModelStore(cfg.models.dir)
    model = SequenceModel(store.choose("fatigue_detector", Runtime("CPU", threads=2), "auto").compiled)
    result = check(model)
    print(json.dumps({k: v for k, v in result.items() if k != "sequences"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
