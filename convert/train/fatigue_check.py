"""The fatigue analyzer (runtime code, OpenVINO model) on semi-synthetic fatigued versions of held-back sequences:
the only check of fatigue recall possible without labelled fatigue footage. Used by the tests and the README's
figures (`python -m convert.train.fatigue_check`).

``python -m convert.train.fatigue_check --signs train`` prints how large each fatigue sign
(edge_app/analysis/fatigue_signs.py) comes out on the ordinary windows of a split (as is, reading, posture shifts)
and on fatigued ones, per sign the recipe applied: what the sign thresholds were chosen from (training split
only)."""

from __future__ import annotations

import json
import sys
from collections import deque
from types import SimpleNamespace

import numpy as np

from convert.train.clips import shared_clips
from convert.train.extract import Sequence, extract
from convert.train.synthetic import fatigued_variant, reading_variant, shift_variant
from edge_app.analysis.fatigue import RATE_HZ, FatigueAnalyzer, baseline
from edge_app.analysis.fatigue_signs import SIGNS, measure_signs
from edge_app.analysis.features import window
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


def sequences(split: str, activities) -> list[tuple]:
    """The subject's pose sequence of each daily-activity clip of ``split`` among UP-Fall ``activities``:
    (clip, times (T,), landmarks (T, 33, 5), world (T, 33, 3)), float64."""
    clips = [c for c in shared_clips() if c.split == split and c.kind == "adl" and int(c.name[8:10]) in activities]
    seqs: dict[str, Sequence] = extract(clips, progress=False)
    out = []
    for clip in clips:
        seq = seqs[clip.name].track(seqs[clip.name].subject)
        out.append((clip, seq.times, seq.landmarks.astype(np.float64), seq.world.astype(np.float64)))
    return out


def check(model, split: str = "test", activities=(7, 8), variants: int = 5, seed: int = 0) -> dict:
    """Per base sequence: fatigue alerts on it as is, on 'reading' variants, and on fatigued variants."""
    rng = np.random.default_rng(seed)
    rows = []
    for clip, t, lm, wd in sequences(split, activities):

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


RECIPE_SIGN = {"nodding": "nodding", "sway": "sway", "slowdown": "slowed_movement", "hand_to_face": "hand_to_face",
               "head_droop": "head_droop", "trunk_slump": "trunk_slump"}  # synthetic transform -> sign


def sign_table(split: str = "train", activities=(7, 8), variants: int = 5, seed: int = 0) -> dict:
    """Sign sizes on a split's sequences: per kind of ordinary window (as is, reading, shift) the 95th percentile
    and maximum of each sign; per sign a fatigued recipe applied, its 10th percentile and median in windows from 25 s
    after onset. Windows of 20 s every 5 s from 30 s on, against the first 10 s as the runtime takes them."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {"as_is": [], "reading": [], "shift": [], "fatigued": []}
    for _, t, lm, wd in sequences(split, activities):

        def sizes(a, b, after: float = 0.0, t=t) -> list[dict]:
            ref = baseline(t, a, b, float(t[0]))
            ends = [e for e in np.arange(t[0] + 30, t[-1], 5.0) if e >= after]
            windows = [window(t, a, b, float(e), 20.0, RATE_HZ) for e in ends]
            return [measure_signs(w, ref, RATE_HZ) for w in windows if w is not None and ref is not None]
        rows["as_is"] += sizes(lm, wd)
        for _ in range(variants):
            rows["reading"] += sizes(*reading_variant(t, lm, wd, rng)[:2])
            rows["shift"] += sizes(*shift_variant(t, lm, wd, rng)[:2])
            a, b, _, recipe = fatigued_variant(t, lm, wd, rng)
            rows["fatigued"] += [(s, [RECIPE_SIGN[k] for k in recipe if k != "onset_s"])
                                 for s in sizes(a, b, after=recipe["onset_s"] + 25)]
    out: dict = {"split": split, "ordinary": {}, "fatigued": {}}
    for kind in ("as_is", "reading", "shift"):
        out["ordinary"][kind] = {n: {"p95": round(float(np.percentile([r[n] for r in rows[kind]], 95)), 3),
                                     "max": round(float(max(r[n] for r in rows[kind])), 3)}
                                 for n in SIGNS} if rows[kind] else {}
    for n in SIGNS:
        vals = [s[n] for s, applied in rows["fatigued"] if n in applied]
        out["fatigued"][n] = {"windows": len(vals), "p10": round(float(np.percentile(vals, 10)), 3),
                              "median": round(float(np.median(vals)), 3)} if vals else {"windows": 0}
    return out


def main() -> int:
    from edge_app.analysis.sequence_model import SequenceModel
    from edge_app.config import load_config
    from edge_app.inference.model_store import ModelStore
    from edge_app.inference.runtime import Runtime

    if len(sys.argv) == 3 and sys.argv[1] == "--signs":
        print(json.dumps(sign_table(sys.argv[2]), indent=2))
        return 0
    cfg = load_config()
    store = ModelStore(cfg.models.dir)
    model = SequenceModel(store.choose("fatigue_detector", Runtime("CPU", threads=2), "auto").compiled)
    result = check(model)
    print(json.dumps({k: v for k, v in result.items() if k != "sequences"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
