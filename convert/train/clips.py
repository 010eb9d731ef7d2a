"""The labelled clips of ../shared/data/falls, described once: path, crop, kind (fall or daily activity), label source
and per-frame labels where they exist, and the split by clip used for training and evaluation.

Split (never by frame): training sees UR Fall 01-14 and UP-Fall trial 1 (both cameras); the held-back test part is
UR Fall 15-20 and UP-Fall trial 2 (both cameras).
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from convert.calibration import SHARED_DATA

FALLS = SHARED_DATA / "falls"
UPFALL_FALLS = range(1, 6)  # 1 forward (hands), 2 forward (knees), 3 backwards, 4 sideways, 5 into an empty chair
UPFALL_ACTIVITIES = {1: "fall forward using hands", 2: "fall forward using knees", 3: "fall backwards",
                     4: "fall sideways", 5: "fall sitting into an empty chair", 6: "walking", 7: "standing",
                     8: "sitting", 9: "picking up an object", 10: "jumping", 11: "laying down on purpose"}


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    kind: str  # fall | adl
    label_source: str  # urfd-csv (per-frame) | upfall-activity (whole clip)
    crop: tuple[int, int, int, int] | None = None
    split: str = "train"  # train | test
    labels: tuple[int, ...] | None = None  # per frame (UR Fall: -1 not lying, 0 falling, 1 lying)

    def to_json(self) -> dict:
        out = asdict(self)
        out["path"] = str(self.path)
        out.pop("labels")
        out["per_frame_labels"] = self.labels is not None
        return out


def urfd_labels(csv_path: Path) -> dict[str, tuple[int, ...]]:
    """Per-frame labels by sequence from ``urfall-cam0-falls.csv`` (no header: sequence, frame (1-based), label)."""
    rows: dict[str, dict[int, int]] = {}
    with open(csv_path, newline="") as fh:
        for row in csv.reader(fh):
            if len(row) >= 3 and row[1].strip().isdigit():
                rows.setdefault(row[0], {})[int(row[1])] = int(float(row[2]))
    return {seq: tuple(frames.get(i, -1) for i in range(1, max(frames) + 1)) for seq, frames in rows.items()}


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
                                  "train" if i <= 14 else "test", labels.get(f"fall-{i:02d}")))
    for activity in range(1, 12):
        for trial in (1, 2):
            for cam in (1, 2):
                path = root / "upfall_s1" / f"Activity{activity}" / f"Trial{trial}Cam{cam}.mp4"
                if path.is_file():
                    clips.append(Clip(f"upfall-a{activity:02d}-t{trial}-c{cam}", path,
                                      "fall" if activity in UPFALL_FALLS else "adl", "upfall-activity", None,
                                      "train" if trial == 1 else "test"))
    return clips


def load_clip_list(path: Path) -> list[Clip]:
    """A user's clip list: JSON ``[{"path", "kind", "crop"?, "name"?, "labels"?: [per-frame ints]}, ...]`` or a
    plain text file of paths (kind from the name: 'fall' in it means a fall clip)."""
    from edge_app.errors import VigilError

    text = path.read_text()
    clips = []
    if path.suffix == ".json":
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise VigilError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(items, list):
            raise VigilError(f"{path}: expected a list of clips")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "path" not in item or item.get("kind") not in ("fall", "adl"):
                raise VigilError(f"{path}: clip {i}: needs 'path' and 'kind' (fall or adl)")
            clip_path = (path.parent / item["path"]).resolve()
            crop = tuple(item["crop"]) if item.get("crop") else None
            labels = tuple(int(v) for v in item["labels"]) if item.get("labels") else None
            clips.append(Clip(item.get("name") or clip_path.stem, clip_path, item["kind"],
                              item.get("label_source", "user"), crop, "test", labels))
    else:
        for line in text.splitlines():
            if line.strip() and not line.startswith("#"):
                clip_path = (path.parent / line.strip()).resolve()
                clips.append(Clip(clip_path.stem, clip_path, "fall" if "fall" in clip_path.name.lower() else "adl",
                                  "file-name", None, "test"))
    return clips
