"""Stable person IDs across frames: greedy matching on box IoU plus keypoint similarity, birth and death with
hysteresis, and One-Euro smoothing of each track's landmarks.

A track is *confirmed* (shown, analysed, allowed to raise alerts) only once it is a person: seen in ``min_hits``
frames, of which ``min_person_frames`` carry person evidence with a plausible body. Evidence is the body finder's
score (``evidence="finder"``: MoveNet MultiPose must see a person there) or, with BlazePose's face-anchored detector,
the landmark model's pose flag (``evidence="landmarks"``). A plausible body has a box of at least ``min_person_px``
and a torso (shoulder centre to hip centre) of 8-90 % of the box's long side, at any orientation.

Identity cannot teleport, nor shrink: a pose whose box centre is further from a track's than a body can move in the
time between them (``reachable``: ``jitter`` body sizes of detection noise plus ``max_speed`` body sizes per second;
a sprinter covers about 4 of their heights a second), or whose body (the box's long side) is under ``min_size_ratio``
or over its inverse of the track's (a person lying keeps about their height as their length; a box a quarter of
their size is a head, a bag or a sign the finder took for a person), never continues that track, however alike the
two look. It starts a new track, so every analyzer starts afresh on it (a looped clip's seam, two people swapping
places between detections, a finder's false box beside a walker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from edge_app.pose.geometry import box_iou
from edge_app.records import Landmark, Pose, Track
from edge_app.tracking.one_euro import OneEuroFilter, OneEuroParams


@dataclass(frozen=True)
class TrackerSettings:
    min_similarity: float = 0.2  # below this a pose does not continue a track
    iou_weight: float = 0.5  # similarity = w * IoU + (1 - w) * keypoint similarity
    min_hits: int = 2  # frames seen before a track is confirmed (shown, analysed)
    evidence: Literal["finder", "landmarks"] = "landmarks"  # what says a pose is a person (see the module doc)
    min_person_score: float = 0.3  # finder score (or pose flag) from which a frame is person evidence
    min_person_frames: int = 2  # frames of person evidence before a track is confirmed
    min_person_px: float = 10.0  # a body box's long side below this is no evidence
    handover_distance: float = 0.6  # box-centre move, in body sizes, in which a confirmed person may be handed a pose
    handover_frames: int = 5  # a confirmed person unseen for this many frames is no longer handed a pose
    max_missed: int = 15  # frames missed before a track ends
    max_speed: float = 4.0  # body sizes per second a box centre can move (a sprint); beyond it: a new track
    jitter: float = 0.3  # body sizes a box centre may move between two frames from detection noise alone
    min_size_ratio: float = 0.4  # a pose's body size against its track's below this (or above 1/it): another body
    history: int = 900  # poses kept per track (30 s at 30 fps)
    smoothing: OneEuroParams = OneEuroParams()


def history_entry(t: float, smoothed: np.ndarray, pose: Pose) -> tuple[float, np.ndarray, np.ndarray, float]:
    """What a track remembers of one frame, compactly: time, smoothed landmarks, world landmarks, score."""
    return t, smoothed.astype(np.float32), pose.world.astype(np.float32), pose.score


L_SHOULDER, R_SHOULDER, L_HIP, R_HIP = (
    Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER, Landmark.LEFT_HIP, Landmark.RIGHT_HIP)


def plausible_body(landmarks: np.ndarray, box: tuple[float, float, float, float], min_px: float) -> bool:
    """Whether (33, >=2) landmarks in ``box`` (pixels) can be a human body: the box's long side at least ``min_px``
    and the torso (shoulder centre to hip centre) 8-90 % of it, whatever the orientation (lying people included)."""
    long_side = max(box[2] - box[0], box[3] - box[1])
    if long_side < min_px:
        return False
    shoulders = (landmarks[L_SHOULDER, :2] + landmarks[R_SHOULDER, :2]) / 2
    hips = (landmarks[L_HIP, :2] + landmarks[R_HIP, :2]) / 2
    torso = float(np.hypot(*(shoulders - hips)))
    return 0.08 * long_side <= torso <= 0.9 * long_side


def is_person_evidence(pose: Pose, s: TrackerSettings) -> bool:
    """Whether one frame's pose counts towards confirming its track as a person (module doc)."""
    score = pose.finder_score if s.evidence == "finder" else pose.score
    return score >= s.min_person_score and plausible_body(pose.landmarks, pose.box, s.min_person_px)


def body_scale(pose: Pose) -> float:
    x0, y0, x1, y1 = pose.box
    return max(x1 - x0, y1 - y0, 1.0)


def keypoint_similarity(a: np.ndarray, b: np.ndarray, scale: float, min_visibility: float = 0.5) -> float:
    """OKS-like similarity of two (33, >=4) landmark arrays over the points visible in both (0..1)."""
    seen = (a[:, 3] >= min_visibility) & (b[:, 3] >= min_visibility)
    if not seen.any():
        return 0.0
    d2 = ((a[seen, :2] - b[seen, :2]) ** 2).sum(axis=1)
    return float(np.exp(-d2 / (2 * (0.1 * scale) ** 2)).mean())


def similarity(track: Track, pose: Pose, iou_weight: float) -> float:
    scale = max(body_scale(track.pose), body_scale(pose))
    return iou_weight * box_iou(track.box, pose.box) + (1 - iou_weight) * keypoint_similarity(
        track.smoothed, pose.landmarks, scale)


def centre_distance(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Distance (pixels) between the centres of two (x0, y0, x1, y1) boxes."""
    return float(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2))


def reachable(track: Track, pose: Pose, t: float, s: TrackerSettings) -> bool:
    """Whether ``pose`` (at media time ``t``) can be the body of ``track`` (last seen at ``track.last_seen``): the
    box centres at most ``s.jitter + s.max_speed * dt`` body sizes apart (the larger of the two boxes' long
    sides), and the body sizes within a factor ``1 / s.min_size_ratio`` of each other. A step back in time (a
    restarted stream) is unreachable."""
    dt = t - track.last_seen
    if dt < 0:
        return False
    mine, theirs = body_scale(track.pose), body_scale(pose)
    if min(mine, theirs) < s.min_size_ratio * max(mine, theirs):
        return False
    return centre_distance(track.box, pose.box) <= (s.jitter + s.max_speed * dt) * max(mine, theirs)


class Tracker:
    """Per stream: call :meth:`update` once per frame with that frame's poses."""

    def __init__(self, settings: TrackerSettings = TrackerSettings()):
        self.settings = settings
        self.tracks: list[Track] = []
        self._filters: dict[int, OneEuroFilter] = {}
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track (after a gap in the stream: what happened in it is unknown). New people get new ids,
        so no analyzer mistakes them for the ones before the gap."""
        self.tracks, self._filters = [], {}

    def update(self, poses: list[Pose], t: float) -> list[Track]:
        """Match ``poses`` (taken at media time ``t``) to tracks; returns the confirmed tracks seen now."""
        s = self.settings
        pairs = sorted(((similarity(tr, p, s.iou_weight), ti, pi) for ti, tr in enumerate(self.tracks)
                        for pi, p in enumerate(poses)), reverse=True)
        used_t, used_p = set(), set()
        for sim, ti, pi in pairs:
            if sim < s.min_similarity:
                break
            if ti in used_t or pi in used_p or not reachable(self.tracks[ti], poses[pi], t, s):
                continue
            used_t.add(ti)
            used_p.add(pi)
            self._continue(self.tracks[ti], poses[pi], t)
        self._hand_over(poses, t, used_t, used_p)
        for ti, track in enumerate(self.tracks):
            if ti not in used_t:
                track.missed += 1
        for pi, pose in enumerate(poses):
            if pi not in used_p:
                self._birth(pose, t)
        for track in self.tracks:
            if track.missed > s.max_missed:
                self._filters.pop(track.id, None)
        self.tracks = [tr for tr in self.tracks if tr.missed <= s.max_missed]
        return [tr for tr in self.tracks if tr.confirmed and tr.missed == 0]

    def _hand_over(self, poses: list[Pose], t: float, used_t: set[int], used_p: set[int]) -> None:
        """Second association stage: a confirmed person left unmatched (their pose changed too much in one step to
        look alike: falling, rolling over, or landmarks replaced by the finder's keypoints) takes the nearest
        unmatched pose whose box centre is within ``handover_distance`` of their body size and ``reachable`` in the
        time since they were seen; a jump farther than a body can make in that time never keeps an id."""
        s = self.settings
        pairs = []
        for ti, track in enumerate(self.tracks):
            if ti in used_t or not track.confirmed or track.missed >= s.handover_frames:
                continue
            reach = s.handover_distance * body_scale(track.pose)
            for pi, pose in enumerate(poses):
                if pi in used_p:
                    continue
                d = centre_distance(track.box, pose.box)
                if d <= reach and reachable(track, pose, t, s):
                    pairs.append((d, ti, pi))
        for _, ti, pi in sorted(pairs):
            if ti in used_t or pi in used_p:
                continue
            used_t.add(ti)
            used_p.add(pi)
            self._continue(self.tracks[ti], poses[pi], t)

    def _smooth(self, track_id: int, pose: Pose, t: float) -> np.ndarray:
        smoothed = pose.landmarks.copy()
        smoothed[:, :3] = self._filters[track_id](pose.landmarks[:, :3], t, body_scale(pose))
        return smoothed

    def _birth(self, pose: Pose, t: float) -> None:
        track_id = self._next_id
        self._next_id += 1
        self._filters[track_id] = OneEuroFilter(self.settings.smoothing)
        smoothed = self._smooth(track_id, pose, t)
        person = int(is_person_evidence(pose, self.settings))
        track = Track(id=track_id, pose=pose, smoothed=smoothed, first_seen=t, last_seen=t, person_frames=person,
                      evidence=bool(person))
        track.confirmed = self._is_confirmed(track)
        track.history = type(track.history)(maxlen=self.settings.history)
        track.history.append(history_entry(t, smoothed, pose))
        self.tracks.append(track)

    def _continue(self, track: Track, pose: Pose, t: float) -> None:
        if track.missed > 0:  # after a gap the filter restarts rather than smearing across it
            self._filters[track.id].reset()
        track.pose = pose
        track.smoothed = self._smooth(track.id, pose, t)
        track.last_seen = t
        track.hits += 1
        track.missed = 0
        track.evidence = is_person_evidence(pose, self.settings)
        track.person_frames += int(track.evidence)
        track.confirmed = track.confirmed or self._is_confirmed(track)
        track.history.append(history_entry(t, track.smoothed, pose))

    def _is_confirmed(self, track: Track) -> bool:
        """Seen ``min_hits`` times, ``min_person_frames`` of them (at most ``min_hits``) with person evidence."""
        s = self.settings
        return track.hits >= s.min_hits and track.person_frames >= min(s.min_person_frames, s.min_hits)
