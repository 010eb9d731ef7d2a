"""Typed records that flow between the runtime's stages.

Every stage imports its inputs and outputs from here; no stage reaches into another's internals.
Arrays inside records are never mutated after construction.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any

import numpy as np


class Landmark(IntEnum):
    """BlazePose's 33 pose landmarks: the index of each in the model's output (the same order as MediaPipe's
    ``PoseLandmark``, mediapipe/tasks/python/vision/pose_landmarker.py)."""

    NOSE = 0
    LEFT_EYE_INNER = 1
    LEFT_EYE = 2
    LEFT_EYE_OUTER = 3
    RIGHT_EYE_INNER = 4
    RIGHT_EYE = 5
    RIGHT_EYE_OUTER = 6
    LEFT_EAR = 7
    RIGHT_EAR = 8
    MOUTH_LEFT = 9
    MOUTH_RIGHT = 10
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_PINKY = 17
    RIGHT_PINKY = 18
    LEFT_INDEX = 19
    RIGHT_INDEX = 20
    LEFT_THUMB = 21
    RIGHT_THUMB = 22
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28
    LEFT_HEEL = 29
    RIGHT_HEEL = 30
    LEFT_FOOT_INDEX = 31
    RIGHT_FOOT_INDEX = 32


class CocoKeypoint(IntEnum):
    """The 17 COCO person keypoints, in the order of COCO's annotations and of COCO-trained models
    (MoveNet)."""

    NOSE = 0
    LEFT_EYE = 1
    RIGHT_EYE = 2
    LEFT_EAR = 3
    RIGHT_EAR = 4
    LEFT_SHOULDER = 5
    RIGHT_SHOULDER = 6
    LEFT_ELBOW = 7
    RIGHT_ELBOW = 8
    LEFT_WRIST = 9
    RIGHT_WRIST = 10
    LEFT_HIP = 11
    RIGHT_HIP = 12
    LEFT_KNEE = 13
    RIGHT_KNEE = 14
    LEFT_ANKLE = 15
    RIGHT_ANKLE = 16


BLAZEPOSE_LANDMARKS: tuple[str, ...] = tuple(lm.name.lower() for lm in Landmark)
COCO17_KEYPOINTS: tuple[str, ...] = tuple(kp.name.lower() for kp in CocoKeypoint)

# Index of each COCO-17 keypoint in the BlazePose landmark list.
COCO17_FROM_BLAZEPOSE: tuple[int, ...] = tuple(BLAZEPOSE_LANDMARKS.index(name) for name in COCO17_KEYPOINTS)


@dataclass(frozen=True, slots=True)
class RotatedRect:
    """A rotated rectangle in image pixels; ``rotation`` in radians, clockwise on screen (y points down)."""

    cx: float
    cy: float
    width: float
    height: float
    rotation: float = 0.0

    def to_image(self, points01: np.ndarray) -> np.ndarray:
        """Map points given in the rect's own [0,1]x[0,1] frame to image pixels. ``points01``: (N, 2)."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        local = (np.asarray(points01, dtype=np.float64) - 0.5) * (self.width, self.height)
        x = c * local[:, 0] - s * local[:, 1] + self.cx
        y = s * local[:, 0] + c * local[:, 1] + self.cy
        return np.stack([x, y], axis=1)

    def crop_matrix(self, size: int) -> np.ndarray:
        """2x3 affine matrix from crop pixel indices (size x size) to image pixel indices (WARP_INVERSE_MAP).

        Coordinates in records are continuous (a pixel i spans [i, i+1)); OpenCV indexes pixel centres, hence
        the half-pixel shifts.
        """
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        sx, sy = self.width / size, self.height / size
        m = np.array([[c * sx, -s * sy, 0.0], [s * sx, c * sy, 0.0]])
        m[:, 2] = self.to_image(np.array([[0.5 / size, 0.5 / size]]))[0] - 0.5
        return m

    def corners(self) -> np.ndarray:
        return self.to_image(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64))

    def bounding_box(self) -> tuple[float, float, float, float]:
        pts = self.corners()
        return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


@dataclass(frozen=True, slots=True)
class Detection:
    """A person found by a person finder, in image pixels.

    ``box``: (x0, y0, x1, y1). ``keypoints``: (4, 2) alignment points as BlazePose's detector gives them: hip
    centre, full-body scale point (its distance from the hip centre is the radius of a circle around the whole
    body, its direction the body axis from the hips up), shoulder centre, upper-body scale point. A body-based finder
    (MoveNet MultiPose) derives them from its keypoints and also gives ``body``: (17, 3) COCO-17 keypoints (x, y in
    pixels, score 0-1), or None for a face-anchored detector.
    """

    box: tuple[float, float, float, float]
    keypoints: np.ndarray
    score: float
    body: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class Pose:
    """One person's pose in one frame.

    ``landmarks``: (33, 5) x, y in image pixels, z (same scale as x, hips at 0), visibility and presence in [0,1].
    ``world``: (33, 3) metres, origin between the hips. ``roi`` is the crop the landmarks came from,
    ``next_roi`` the crop the landmarks propose for the next frame. ``score``: the landmark model's pose flag (0-1).

    What the person finder said of this person in this frame, when it ran: ``finder_score`` (0-1; 0 when it did not
    run or did not see them) and ``body``, its (17, 3) COCO keypoints (x, y px, score), or None. ``source`` is
    ``landmarks`` (BlazePose's 33 points) or ``finder`` (the landmark model lost the person, e.g. lying face down or
    too small, and the 33 points are the finder's 17 mapped onto BlazePose's layout, see ``pose_from_body``).
    """

    landmarks: np.ndarray
    world: np.ndarray
    score: float
    roi: RotatedRect
    next_roi: RotatedRect
    box: tuple[float, float, float, float] = field(default=(0.0, 0.0, 0.0, 0.0))
    finder_score: float = 0.0
    body: np.ndarray | None = None
    source: str = "landmarks"

    def coco17(self) -> np.ndarray:
        """(17, 3) COCO keypoints: x, y in pixels and a confidence. The finder's own COCO-trained keypoints when it
        saw this person in this frame (more accurate on COCO-17 than BlazePose's mapped landmarks: keypoint AP 0.39
        against 0.25 on coco_minitrain, README); otherwise BlazePose's (visibility times presence)."""
        if self.body is not None:
            return self.body
        lm = self.landmarks[list(COCO17_FROM_BLAZEPOSE)]
        return np.stack([lm[:, 0], lm[:, 1], lm[:, 3] * lm[:, 4]], axis=1)


@dataclass(frozen=True, slots=True)
class Frame:
    """One image from a source, as captured."""

    stream: str
    seq: int
    image: np.ndarray  # BGR, uint8, already cropped to the source's region
    capture_mono: float  # time.monotonic() at capture
    capture_wall: float  # time.time() at capture
    media_time: float  # seconds from the stream's start


@dataclass(slots=True, eq=False)
class Track:
    """One person followed across frames. The tracker owns identity and history; each analyzer keeps its own
    entry in ``state``. ``history`` is a bounded ring of (media time, smoothed landmarks (33, 5), world landmarks
    (33, 3), pose score), float32."""

    id: int
    pose: Pose
    smoothed: np.ndarray
    first_seen: float
    last_seen: float
    history: deque = field(default_factory=lambda: deque(maxlen=900))
    hits: int = 1
    missed: int = 0
    person_frames: int = 0  # frames with person evidence (tracking/tracker.py)
    evidence: bool = True  # this frame's pose is person evidence (a body the finder or landmark model vouches for)
    confirmed: bool = False  # a person: analysed, may raise alerts
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.pose.box


class EventState(StrEnum):
    """What an event says of its alert. A StrEnum: it compares equal to, and is written to JSON as, its value."""

    RAISED = "raised"  # an analyzer raised the alert
    CLEARED = "cleared"  # the analyzer (the person got up) or an operator cleared it
    ACKNOWLEDGED = "acknowledged"  # an operator acknowledged it (details.by, details.via)
    INFO = "info"  # no alert: information (a posture change)


@dataclass(frozen=True, slots=True)
class Event:
    """Something an analyzer reports about a track (an alert raised or cleared, or information), or an operator's
    action on an alert. ``media_time``: seconds of the stream's media time; ``wall_time``: Unix time of the frame's
    capture (or of the action). ``details`` is filled before the event is published and never changed after."""

    type: str
    stream: str
    track_id: int
    state: EventState
    score: float
    media_time: float
    wall_time: float
    details: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TrackView:
    """A read-only snapshot of a track for the render stage (the tracker keeps mutating the Track itself)."""

    id: int
    landmarks: np.ndarray  # smoothed (33, 5)
    box: tuple[float, float, float, float]
    posture: str | None = None
    note: str | None = None  # what an analyzer shows beside the person (the exercise counter and last verdict)
