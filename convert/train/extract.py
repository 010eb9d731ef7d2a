"""Keypoint sequences from clips, made by Vigil's own runtime (pose engine + tracker, the configured models), so
training sees exactly what the analyzers see at run time. Cached per clip and model under .cache/vigil/sequences."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from convert.train.clips import Clip
from edge_app.app import build_pose_stack
from edge_app.config import Config, load_config
from edge_app.tracking.tracker import Tracker

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "vigil" / "sequences"


@dataclass
class Sequence:
    """Every tracked person's pose series in one clip: one row per (frame, track), in frame order."""

    name: str
    times: np.ndarray  # (T,) seconds from the clip's start, frames where a person was tracked
    landmarks: np.ndarray  # (T, 33, 5) smoothed, image pixels
    world: np.ndarray  # (T, 33, 3) metres
    frames: np.ndarray  # (T,) frame index in the clip (0-based)
    fps: float
    total_frames: int
    ids: np.ndarray  # (T,) track id of each row (a new id: someone else, or the same person lost and found)

    def track(self, track_id: int) -> Sequence:
        keep = np.nonzero(self.ids == track_id)[0]
        return Sequence(self.name, self.times[keep], self.landmarks[keep], self.world[keep], self.frames[keep],
                        self.fps, self.total_frames, self.ids[keep])

    @property
    def subject(self) -> int | None:
        """The id of the clip's subject: the largest person in view during the first tracked second."""
        if not len(self.ids):
            return None
        early = self.times <= self.times[0] + 1.0
        heights = self.landmarks[early, :, 1].max(1) - self.landmarks[early, :, 1].min(1)
        ids = self.ids[early]
        return int(max(set(ids.tolist()), key=lambda i: heights[ids == i].mean()))


def _cache_key(clip: Clip, cfg: Config) -> str:
    manifest = cfg.models.dir / "manifest.json"
    models = json.loads(manifest.read_text())["models"] if manifest.is_file() else {}
    ident = {"path": str(clip.path), "size": clip.path.stat().st_size, "crop": clip.crop,
             "landmarks": models.get(cfg.models.landmarks, {}).get("recipe_hash"),
             "detector": models.get(cfg.models.detector, {}).get("recipe_hash"),
             "precision": cfg.models.precision, "version": 4}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]


def extract(clips: list[Clip], cfg: Config | None = None, cache: Path = CACHE, progress: bool = True
            ) -> dict[str, Sequence]:
    cfg = cfg or load_config()
    # Pinned to the f32 IR computed in f32, the reference every other run is proven against: training must see the
    # same poses on every build machine. `auto` picks the fastest run of a busy machine; INT8 differed between
    # machines (NNCF's statistics and recipe choice, the INT8 kernels; on a Xeon with AMX the float parts also ran
    # in bf16), and a fatigue model trained on one machine's INT8 poses warned on a held-back clip of people
    # standing that the model trained on another's did not (tests/integration/test_fatigue.py).
    cfg = dataclasses.replace(cfg, models=dataclasses.replace(cfg.models, precision="f32"))
    out: dict[str, Sequence] = {}
    todo = []
    for clip in clips:
        path = cache / f"{clip.name}-{_cache_key(clip, cfg)}.npz"
        if path.is_file():
            out[clip.name] = _load(clip.name, path)
        else:
            todo.append((clip, path))
    if not todo:
        return out
    stack = build_pose_stack(cfg)
    bar = tqdm(todo, desc="pose sequences", unit="clip", disable=not progress)
    for clip, path in bar:
        bar.set_postfix_str(clip.name)
        seq = _extract_one(clip, stack.engine(cfg))
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, times=seq.times, landmarks=seq.landmarks, world=seq.world, frames=seq.frames,
                            fps=seq.fps, total_frames=seq.total_frames, ids=seq.ids)
        tmp.replace(path)
        out[clip.name] = seq
    return out


def _load(name: str, path: Path) -> Sequence:
    d = np.load(path)
    return Sequence(name, d["times"], d["landmarks"], d["world"], d["frames"], float(d["fps"]),
                    int(d["total_frames"]), d["ids"])


def _extract_one(clip: Clip, engine) -> Sequence:
    cap = cv2.VideoCapture(str(clip.path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    tracker = Tracker()
    times, lms, worlds, frames, ids = [], [], [], [], []
    index = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        if clip.crop is not None:
            x, y, w, h = clip.crop
            image = np.ascontiguousarray(image[y:y + h, x:x + w])
        t = index / fps
        tracks = tracker.update(engine.process(image), t)
        for tr in sorted(tracks, key=lambda tr: tr.id):
            times.append(t)
            lms.append(tr.smoothed.astype(np.float32))
            worlds.append(tr.pose.world.astype(np.float32))
            frames.append(index)
            ids.append(tr.id)
        index += 1
    cap.release()
    empty = np.zeros((0, 33, 5), np.float32)
    return Sequence(clip.name, np.asarray(times, np.float64), np.stack(lms) if lms else empty,
                    np.stack(worlds) if worlds else np.zeros((0, 33, 3), np.float32), np.asarray(frames), fps, index,
                    np.asarray(ids, np.int64))
