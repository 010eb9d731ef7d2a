"""`python -m convert train fall`: the fall sequence model, trained on Vigil's own pose sequences of the shared fall
footage (training split only), compared across architectures on a validation part of the training clips, and saved
with the windows the INT8 build calibrates and checks on."""

from __future__ import annotations

import functools
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from convert.train import models
from convert.train.clips import Clip, shared_clips
from convert.train.extract import Sequence, extract
from convert.train.trainer import fit, predict, window_metrics
from convert.train.windows import Windows, fall_label, make_windows, mirrored, trial_down_times
from edge_app.errors import VigilError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / ".cache" / "vigil" / "trained" / "fall"
ARCHITECTURES = {"gru": models.fall_gru, "lstm": models.fall_lstm, "tcn": models.fall_tcn}
SECONDS, RATE = models.FALL_STEPS / models.FALL_RATE, models.FALL_RATE


def is_validation(clip: Clip) -> bool:
    """The part of the training clips held out to compare architectures: UR Fall 12-14 and UP-Fall camera 2."""
    return clip.name.startswith("urfd") and int(clip.name[-2:]) >= 12 or clip.name.endswith("-c2")


def fall_windows(clips: list[Clip], seqs: dict[str, Sequence], stride: float = 1.0 / RATE) -> dict[str, Windows]:
    downs = trial_down_times(clips, seqs)
    return {c.name: make_windows(c, seqs[c.name], SECONDS, RATE, stride,
                                 functools.partial(fall_label, t_down=downs.get(c.name))) for c in clips}


def augmented(w: Windows) -> Windows:
    return Windows(np.concatenate([w.x, mirrored(w.x)]), np.concatenate([w.y, w.y]),
                   np.concatenate([w.clip, w.clip]), np.concatenate([w.end, w.end]))


def save_agreement_windows(out: Path, make) -> None:
    """Windows of the held-back clips, features only (no labels, nothing trained on them): where `convert build`
    checks that the INT8 model decides as the float one does on footage the model never saw."""
    clips = [c for c in shared_clips() if c.split == "test"]
    if not clips:
        return
    wins = make(clips, extract(clips))
    x = np.concatenate([w.x for w in wins.values() if len(w.y)]) if wins else np.zeros((0,))
    np.savez_compressed(out / "agreement_windows.npz", x=x, clips=np.array(sorted(wins)))


def train(arch: str = "gru", epochs: int = 30, out: Path = OUT, compare: bool = True, seeds: int = 2) -> dict:
    torch.set_num_threads(2)
    clips = [c for c in shared_clips() if c.split == "train"]
    if not clips:
        raise VigilError("no training clips: ../shared/data/falls is absent")
    seqs = extract(clips)
    wins = fall_windows(clips, seqs)
    report: dict = {"arch": arch, "window": {"seconds": SECONDS, "rate_hz": RATE}, "epochs": epochs,
                    "training_clips": [c.to_json() for c in clips]}
    if compare:
        tr = augmented(Windows.concat([wins[c.name] for c in clips if not is_validation(c)]))
        va = Windows.concat([wins[c.name] for c in clips if is_validation(c)])
        table = {}
        for name, factory in ARCHITECTURES.items():
            runs = []
            for seed in range(seeds):
                model = factory()
                started = time.time()
                fit(model, tr, epochs=epochs, seed=seed, desc=f"{name} seed {seed}")
                metrics = window_metrics(va.y, predict(model, va.x))
                metrics["train_seconds"] = round(time.time() - started, 1)
                runs.append(metrics)
            table[name] = {"auc_mean": round(float(np.mean([r["auc"] for r in runs])), 4), "runs": runs,
                           "parameters": sum(p.numel() for p in factory().parameters())}
        report["comparison"] = {"train_windows": len(tr.y), "validation_windows": len(va.y),
                                "validation_positives": int(va.y.sum()), "validation_clips": sorted(set(va.clip)),
                                "architectures": table}
        best = max(table, key=lambda n: table[n]["auc_mean"])
        report["best_on_validation"] = best
        for name, row in table.items():
            log.info("fall %s: validation AUC %.3f (seeds: %s)", name, row["auc_mean"],
                     ", ".join(f"{r['auc']:.3f}" for r in row["runs"]))
    data = Windows.concat([wins[c.name] for c in clips])
    model = ARCHITECTURES[arch]()
    fit(model, augmented(data), epochs=epochs, seed=0, desc=f"fall {arch} (all training clips)")
    report["train_fit"] = window_metrics(data.y, predict(model, data.x))
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / f"{arch}.pt")
    np.savez_compressed(out / "windows.npz", x=data.x, y=data.y, clip=data.clip, end=data.end)
    save_agreement_windows(out, lambda clips, seqs: fall_windows(clips, seqs, stride=0.2))
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
