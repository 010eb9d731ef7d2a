"""The labelled clips of ../shared/data/falls, described once: path, crop, kind (fall or daily activity), label source
and per-frame labels where they exist, and the split by clip used for training and evaluation.

Split (never by frame): training sees UR Fall 01-14 and UP-Fall trial 1 (both cameras); the held-back test part is
UR Fall 15-20 and UP-Fall trial 2 (both cameras).
"""

from __future__ import annotations

from pathlib import Path

from convert.calibration import SHARED_DATA
from edge_app.alert_eval import Clip, urfd_labels

FALLS = SHARED_DATA / "falls"
UPFALL_FALLS = range(1, 6)  # 1 forward (hands), 2 forward (knees), 3 backwards, 4 sideways, 5 into an empty chair
UPFALL_ACTIVITIES = {1: "fall forward using hands", 2: "fall forward using knees", 3: "fall backwards",
                     4: "fall sideways", 5: "fall sitting into an empty chair", 6: "walking", 7: "standing",
                     8: "sitting", 9: "picking up an object", 10: "jumping", 11: "laying down on purpose"}


def shared_clips(root: Path = FALLS) -> list[Clip]:
    """Every clip of the shared fall data that is present, with its split."""
    clips: list[Clip] = []
    urfd = root / "urfd"
    if (urfd / "urfall-cam0-falls.csv").is_file():
        labels = urfd_labels(urfd / "urfall-cam0-falls.csv")
        for i in range(1, 21):
            path = urfd / f"fall-{i:02d}-cam0.mp4"
            if path.is_file():
                clips.append(Clip(f"urfd-fall-{i:02d}", path, "fall", "urfd-csv", (320, 0, 320, 240),
                                  "train" if i <= 14 else "test", labels.get(f"fall-{i:02d}"), f"fall-{i:02d}"))
    for activity in range(1, 12):
        for trial in (1, 2):
            for cam in (1, 2):
                path = root / "upfall_s1" / f"Activity{activity}" / f"Trial{trial}Cam{cam}.mp4"
                if path.is_file():
                    clips.append(Clip(f"upfall-a{activity:02d}-t{trial}-c{cam}", path,
                                      "fall" if activity in UPFALL_FALLS else "adl", "upfall-activity", None,
                                      "train" if trial == 1 else "test"))
    return clips
