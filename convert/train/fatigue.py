"""`python -m convert train fatigue [--data DIR]`: the fatigue sequence model.

No labelled fatigue footage exists. The shipped model is trained on semi-synthetic sequences: Vigil's own pose
sequences of people walking, standing, sitting, jumping and lying down (UP-Fall subject 1, trial 1 only), each used
as is, in mild variants, looking down as if reading and in ordinary changes of posture (label 0), and in fatigued
variants made by convert/train/synthetic.py (label 1 once the change has set in). With ``--data DIR`` it trains on a
user's own labelled sequences instead:

    DIR/*.npz, each with  times (T,) seconds;  landmarks (T, 33, 5) BlazePose image landmarks (x, y px, z,
    visibility, presence);  world (T, 33, 3) metres (optional);  and either label () 0/1 for the whole sequence or
    labels (T,) 0/1 per frame (a window takes the label of its last frame).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from convert.train import models
from convert.train.clips import Clip, shared_clips
from convert.train.extract import Sequence, extract
from convert.train.synthetic import fatigued_variant, mild_variant, reading_variant, shift_variant
from convert.train.trainer import fit, predict, window_metrics
from convert.train.windows import Windows, mirrored
from edge_app.analysis.fatigue import baseline
from edge_app.analysis.features import window
from edge_app.errors import VigilError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / ".cache" / "vigil" / "trained" / "fatigue"
SECONDS, RATE = models.FATIGUE_STEPS / models.FATIGUE_RATE, models.FATIGUE_RATE
BASE_ACTIVITIES = (6, 7, 8, 10, 11)  # walking, standing, sitting, jumping, lying down on purpose
ARCHITECTURES = {"tcn": models.fatigue_tcn}
# Measured (camera-1 bases for training, camera-2 bases for validation, 30 epochs): absolute features gave window
# AUC 0.2-0.6 (a new view read as fatigue); features relative to the person's first 10 s gave 0.88 (TCN), 0.78 (GRU).


def base_sequences(clips: list[Clip], seqs: dict[str, Sequence]) -> list[tuple[str, Sequence]]:
    """Every person's track of the normal-activity clips, long enough for a window."""
    out = []
    for clip in clips:
        if clip.kind != "adl" or int(clip.name[8:10]) not in BASE_ACTIVITIES:
            continue
        seq = seqs[clip.name]
        for track_id in sorted(set(seq.ids.tolist())):
            own = seq.track(track_id)
            if len(own.times) > 1 and own.times[-1] - own.times[0] >= 0.6 * SECONDS:
                out.append((f"{clip.name}#{track_id}", own))
    return out


def windows_of(name: str, times, lm, world, labels_at) -> Windows:
    """Windows every second, relative to the sequence's own first seconds as the runtime makes them;
    ``labels_at(ends)`` gives 1, 0 or -1 (leave out)."""
    reference = baseline(times, lm, world, float(times[0]))
    if reference is None:
        return Windows.concat([])
    base = np.median(reference, axis=0)
    ends = np.arange(times[0] + 0.6 * SECONDS, times[-1] + 1e-6, 1.0)
    xs, kept = [], []
    for end in ends:
        w = window(times, lm, world, float(end), SECONDS, RATE)
        if w is not None:
            xs.append(w)
            kept.append(end)
    if not xs:
        return Windows.concat([])
    kept = np.asarray(kept)
    y = labels_at(kept)
    use = y >= 0
    return Windows((np.stack(xs)[use] - base).astype(np.float32), y[use].astype(np.float32),
                   np.array([name] * int(use.sum())), kept[use])


def synthetic_windows(bases: list[tuple[str, Sequence]], seed: int, fatigued: int = 4, mild: int = 2,
                      reading: int = 2, shifts: int = 2) -> Windows:
    rng = np.random.default_rng(seed)
    parts = []
    for name, seq in bases:
        t, lm, wd = seq.times, seq.landmarks.astype(np.float64), seq.world.astype(np.float64)
        parts.append(windows_of(name, t, lm, wd, lambda e: np.zeros(len(e))))
        for _ in range(mild):
            mlm, mwd, _ = mild_variant(t, lm, wd, rng)
            parts.append(windows_of(name, t, mlm, mwd, lambda e: np.zeros(len(e))))
        for _ in range(reading):
            rlm, rwd, _ = reading_variant(t, lm, wd, rng)
            parts.append(windows_of(name, t, rlm, rwd, lambda e: np.zeros(len(e))))
        for _ in range(shifts):
            slm, swd, _ = shift_variant(t, lm, wd, rng)
            parts.append(windows_of(name, t, slm, swd, lambda e: np.zeros(len(e))))
        for _ in range(fatigued):
            flm, fwd, ramp, _ = fatigued_variant(t, lm, wd, rng)

            def label(ends, ramp=ramp, t=t):
                mean = np.array([ramp[(t > e - SECONDS) & (t <= e)].mean() for e in ends])
                at_end = np.interp(ends, t, ramp)
                return np.where(mean >= 0.6, 1.0, np.where(at_end <= 0.05, 0.0, -1.0))
            parts.append(windows_of(name, t, flm, fwd, label))
    return Windows.concat(parts)


def user_windows(folder: Path) -> Windows:
    files = sorted(folder.glob("*.npz")) if folder.is_dir() else []
    if not files:
        raise VigilError(f"--data {folder}: no .npz sequences (format: python -m convert train --help, README)")
    parts = []
    for path in files:
        try:
            d = np.load(path)
            times, lm = d["times"].astype(np.float64), d["landmarks"].astype(np.float64)
            world = d["world"].astype(np.float64) if "world" in d else np.zeros((len(times), 33, 3))
            if lm.ndim != 3 or lm.shape[1:] != (33, 5) or len(times) != len(lm):
                raise ValueError(f"landmarks must be (T, 33, 5) with T = len(times), got {lm.shape}")
            if "labels" in d:
                per_frame = d["labels"].astype(np.float64)

                def labels_at(ends, times=times, per_frame=per_frame):
                    return per_frame[np.clip(np.searchsorted(times, ends, side="right") - 1, 0, len(times) - 1)]
            elif "label" in d:
                value = float(d["label"])

                def labels_at(ends, value=value):
                    return np.full(len(ends), value)
            else:
                raise ValueError("needs label () or labels (T,)")
        except (OSError, ValueError, KeyError) as exc:
            raise VigilError(f"{path}: not a fatigue training sequence ({exc})") from None
        parts.append(windows_of(path.stem, times, lm, world, labels_at))
    data = Windows.concat(parts)
    if not len(data.y) or data.y.min() == data.y.max():
        raise VigilError(f"--data {folder}: needs windows of both labels (0 and 1), got {len(data.y)} windows")
    return data


def augmented(w: Windows) -> Windows:
    return Windows(np.concatenate([w.x, mirrored(w.x)]), np.concatenate([w.y, w.y]),
                   np.concatenate([w.clip, w.clip]), np.concatenate([w.end, w.end]))


def select_thresholds(model, bases: list[tuple[str, Sequence]], seed: int = 5) -> dict:
    """The alert thresholds, chosen on validation sequences the model did not train on (camera-2 bases for the
    camera-1 model): the setting that raises no alert on any ordinary version (as is, reading, posture shifts) and
    the most on fatigued versions, the shortest hold among equals. Runs the runtime's analyzers."""
    from convert.train.fatigue_check import replay
    from edge_app.analysis.fatigue import FatigueAnalyzer, FatigueSettings
    from edge_app.analysis.posture import PostureAnalyzer

    rng = np.random.default_rng(seed)
    cases = []  # (is_fatigued, times, lm, world)
    for _, seq in bases:
        t, lm, wd = seq.times, seq.landmarks.astype(np.float64), seq.world.astype(np.float64)
        cases.append((False, t, lm, wd))
        for make in (reading_variant, shift_variant):
            a, b, _ = make(t, lm, wd, rng)
            cases.append((False, t, a, b))
        for _ in range(2):
            a, b, _, _ = fatigued_variant(t, lm, wd, rng)
            cases.append((True, t, a, b))

    def scorer(window):
        return float(predict(model, window[None].astype(np.float32))[0])
    scorer.steps = models.FATIGUE_STEPS
    table = []
    for raise_at in (0.8, 0.9, 0.95):
        for hold_s in (10.0, 15.0, 20.0):
            settings = FatigueSettings(raise_at=raise_at, hold_s=hold_s)
            hits = {True: 0, False: 0}
            for fatigued, t, a, b in cases:
                events = replay([PostureAnalyzer(), FatigueAnalyzer(scorer, settings)], t, a, b)
                hits[fatigued] += any(e.type == "fatigue" and e.state == "raised" for e in events)
            table.append({"raise_at": raise_at, "hold_s": hold_s, "ordinary_alerts": hits[False],
                          "fatigued_alerted": hits[True]})
    n_fat = sum(c[0] for c in cases)
    clean = [r for r in table if r["ordinary_alerts"] == 0] or sorted(table, key=lambda r: r["ordinary_alerts"])[:1]
    best = max(clean, key=lambda r: (r["fatigued_alerted"], -r["hold_s"], -r["raise_at"]))
    log.info("fatigue thresholds (validation): raise_at %.2f, hold %.0f s: %d/%d fatigued alerted, %d ordinary",
             best["raise_at"], best["hold_s"], best["fatigued_alerted"], n_fat, best["ordinary_alerts"])
    return {"chosen": best, "fatigued_cases": n_fat, "ordinary_cases": len(cases) - n_fat, "grid": table}


def train(arch: str = "tcn", epochs: int = 30, out: Path = OUT, data: Path | None = None) -> dict:
    torch.set_num_threads(2)
    report: dict = {"arch": arch, "window": {"seconds": SECONDS, "rate_hz": RATE}, "epochs": epochs}
    if data is not None:
        train_set = user_windows(data)
        report["data"] = {"source": str(data), "windows": len(train_set.y), "positives": int(train_set.y.sum())}
        validation = None
    else:
        clips = [c for c in shared_clips() if c.split == "train"]
        if not clips:
            raise VigilError("no training clips: ../shared/data/falls is absent (or give --data DIR)")
        seqs = extract(clips)
        bases = base_sequences(clips, seqs)
        fit_bases = [b for b in bases if "-c2#" not in b[0]]
        val_bases = [b for b in bases if "-c2#" in b[0]]
        validation = (synthetic_windows(fit_bases, seed=1), synthetic_windows(val_bases, seed=2))
        train_set = synthetic_windows(bases, seed=0)
        report["data"] = {"source": "semi-synthetic from UP-Fall subject 1 trial 1, activities "
                                    f"{list(BASE_ACTIVITIES)}", "base_sequences": [b[0] for b in bases],
                          "windows": len(train_set.y), "positives": int(train_set.y.sum())}
    if validation is not None:
        model = ARCHITECTURES[arch]()
        fit(model, augmented(validation[0]), epochs=epochs, desc=f"fatigue {arch} (camera 1 only)")
        report["validation_camera2"] = window_metrics(validation[1].y, predict(model, validation[1].x))
        log.info("fatigue %s: validation (camera 2 bases, unseen) %s", arch, report["validation_camera2"])
        report["thresholds"] = select_thresholds(model, val_bases)
    model = ARCHITECTURES[arch]()
    fit(model, augmented(train_set), epochs=epochs, desc=f"fatigue {arch}")
    report["train_fit"] = window_metrics(train_set.y, predict(model, train_set.x))
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / f"{arch}.pt")
    np.savez_compressed(out / "windows.npz", x=train_set.x, y=train_set.y, clip=train_set.clip, end=train_set.end)
    if data is None:
        test = [c for c in shared_clips() if c.split == "test"]
        test_bases = base_sequences(test, extract(test))
        check = synthetic_windows(test_bases, seed=3)
        np.savez_compressed(out / "agreement_windows.npz", x=check.x, clips=np.array([b[0] for b in test_bases]))
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
