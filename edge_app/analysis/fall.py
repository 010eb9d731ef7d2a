"""Fall detection per track: a sequence model's fall score combined with physical rules in a state machine.

    upright --(model score >= threshold and a rapid descent)--> falling
    falling --(down for confirm_s in all since the signal, in MIN_DOWN_FRAMES frames at least)--> alert raised
              (down: torso far from vertical, or hips at feet level; counted in total, not in one stretch,
              because poses of people on the floor flicker)
    falling --(seen down in MIN_DOWN_FRAMES frames, then vanishes for lost_s:
              on the floor behind furniture, or out of the pose model's reach; not on a track that continues a
              vanished track's fall, below)--> alert raised (details.person_lost)
    falling --(not down within fall_window_s)--> upright      (stumbled and caught themselves: no alert)
    (new track) --(appears down within refind_s of another track vanishing nearby while it was going down, or, at
              a low frame rate, within UNSEEN_FALL_S of one vanishing upright: the pose model lost the person
              mid-fall, or the fall fell between frames, and found them on the floor)--> falling
              ("going down" = in the falling phase, or a rapid hip descent, or a fall score at the threshold, in its
              last window; a person who vanished walking upright is not a fall when something lying turns up there;
              "nearby": its box overlaps the vanished one's, since a person falls about their feet)
              The claim "this new track is that person, down" is only as strong as its evidence:
              - whatever the vanished track showed (the model's signal and a descent, a descent alone, a score
                alone, upright at a low frame rate), the new track must be seen down in most of its frames for
                refind_confirm_s, staying where it was found (within STILL_BODIES of its size: a person on the floor
                does not walk on), and it does not raise if it vanishes in the meantime. In crowded CCTV views
                tracks break up and re-form all the time, the fall model gives walkers its fall signal often
                (vtest.avi: dozens of times a pass), and a new track's first poses are the least reliable: a walker
                read upside down for a second, or a fragment of two people crossing, is no fall. (Until 2026-12-01
                a claim on a track with a fall signal was confirmed in confirm_s like any fall: vtest.avi with the
                CCTV config over RTSP raised a fall 58 s in, in two runs of three here and once in CI);
              - weaker (no fall signal): also read standing once drops the claim;
              - the vanished track is seen again before the alert, or the new track is read upright (standing)
                before it: it was not lost, or this is not that person lying, so no claim holds;
              - the new track vanishes too before it is confirmed: no alert. "Lost after going down" is itself a
                guess, and a guess on a guess is no alert: a person on the floor lies still, the easiest thing
                to keep tracking, while a fragment of a crowd (vtest.avi at 10 fps over RTSP: a walker's fall
                score and a dip, lost, then two frames read down nearby, lost again) comes and goes.
    falling --(read upright after a down read, before the alert)--> its down reads are dropped: they were glitches
              (a person read upside down now and then as they walk); reads that are neither down nor upright
              (the flicker of a person on the floor) drop nothing

Body state (down, upright) comes from the current frame; the model and the descent speed from the window. A frame
whose pose nobody vouches for as a body (Track.evidence: the finder does not see a person there, or the landmark
model's pose flag is low) is neither down nor a fall signal: two people crossing give such poses, and the model
scores their jumps as falls.
    alerted --(still down after long_lie_s)--> one escalation event (fall_long_lie)
    alerted --(upright for clear_s)--> alert cleared, cooldown_s before this track can raise again

One alert per fall per track. Every threshold is in the config (analysis.fall).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from edge_app.analysis.features import FEATURE_NAMES, posture_measures, window
from edge_app.analysis.sequence_model import Scorer, recent_history
from edge_app.pose.geometry import box_iou
from edge_app.records import Event, EventState, Landmark, Track
from edge_app.schema import option

log = logging.getLogger(__name__)

HIP_VY = FEATURE_NAMES.index("hip_velocity_y")
L_ANKLE, R_ANKLE = Landmark.LEFT_ANKLE, Landmark.RIGHT_ANKLE


RATE_HZ = 15.0  # the fall model's windows are resampled to this rate (its input length sets the window)
YOUNG_SPAN_S = 0.5  # a track younger than the model's window has its descent measured once its samples span this
FALL_S = 0.4  # a fall's descent lasts 0.3-0.5 s: pose samples further apart than this spread it out
UNSEEN_FALL_S = 1.0  # upright, then down within this: nobody lies down on purpose that fast (it takes seconds)
COARSE_SPACING_S = 0.15  # pose samples this far apart (under ~7 fps) can miss a fall's descent between them
MIN_DOWN_FRAMES = 2  # frames seen down before an alert: one frame (a glitch, two people crossing, a dropped frame
# stretching it) is no fall. Below ~7 analysed fps (COARSE_SPACING_S) one sample spans as long as two would, and one
# read suffices if it is a clear one (the landmark model's, lying rather than upside down): the CCTV config dropping
# to 5 fps on a slower CPU raised falls on walkers from single upside-down reads of the finder
INVERTED_DEG = 135.0  # torso angle (degrees from upright) past which a read is upside down: head below the hips
LYING_FLAG = 0.9  # the landmark model's pose flag (0-1) that, with the finder's weakest match, vouches for a body
STILL_BODIES = 0.5  # a person found down stays within this many body sizes (box long side) of where they were found:
# walking moves about 0.8 body lengths a second


def sample_spacing(history, now: float, span_s: float = 1.5) -> float:
    """The widest gap (seconds) between a track's consecutive pose samples over the last ``span_s`` (and the one
    before): what a low frame rate, or frames where the pose was lost, hide. 0 with fewer than two samples."""
    widest, later = 0.0, None
    for entry in reversed(history):
        if later is not None:
            widest = max(widest, later - entry[0])
        later = entry[0]
        if entry[0] < now - span_s:
            break
    return float(widest)


def young_descent(times: np.ndarray, landmarks: np.ndarray, world: np.ndarray, now: float) -> float:
    """The hips' fastest descent (torso lengths per second, the model window's ``hip_velocity_y``, over the last
    second) of a track too young for the model's window: its own samples since it appeared, once they span
    YOUNG_SPAN_S; 0 before. A person who falls in their first second in view (a clip or a camera starting mid-fall)
    then vanishes going down like anyone else, instead of as someone who never moved."""
    span = now - float(times[0])
    if span < YOUNG_SPAN_S or len(times) < 3:
        return 0.0
    feats = window(times, landmarks, world, end=now, seconds=span, rate=RATE_HZ)
    return float(feats[-int(RATE_HZ):, HIP_VY].max()) if feats is not None else 0.0


def descent_needed(speed: float, spacing_s: float) -> float:
    """The hip descent (torso lengths per second) that counts as rapid when the pose samples around it are
    ``spacing_s`` apart. A descent of about FALL_S seen through samples further apart is spread over the whole gap
    (interpolated), so its measured speed falls by FALL_S / spacing; the threshold follows, so a fall seen at 2 fps
    (or at 2 fps with a frame where the pose was lost) still counts. At FALL_S spacing or closer: ``speed``."""
    return speed * min(1.0, FALL_S / spacing_s) if spacing_s > 0 else speed


@dataclass(frozen=True)
class FallSettings:
    """The ``analysis.fall`` config section."""

    enabled: bool = option(True, "raise fall alerts (needs the fall_detector model from `make models`)")
    model: str = option("fall_detector", "sequence model name in the manifest")
    every_s: float = option(0.1, "the model runs at most this often per person (seconds)")
    threshold: float = option(0.95, "fall score (0-1) that, with a rapid descent, starts a fall (chosen on the "
                                    "training clips: 0.5 let one quick bend raise an alert)")
    descent_speed: float = option(1.0, "hip descent, torso lengths per second, that counts as rapid")
    confirm_s: float = option(0.2, "seconds seen down (in total) after the fall signal before the alert")
    fall_window_s: float = option(2.5, "the person must be down this soon after the fall signal (seconds)")
    lost_s: float = option(0.3, "a falling person seen down and then unseen this long raises the alert")
    refind_s: float = option(2.0, "a person who vanishes and is found down nearby this soon after: one fall")
    refind_confirm_s: float = option(1.0, "a person found down where someone vanished (the same fall under a new "
                                          "track) must be seen down in most frames, staying there, for this long "
                                          "(seconds)")
    clear_s: float = option(1.5, "upright this long clears the alert (seconds)")
    long_lie_s: float = option(30.0, "still down this long after the alert: one fall_long_lie escalation")
    cooldown_s: float = option(5.0, "after a clear, seconds before the same person can raise again")
    down_torso_deg: float = option(60.0, "torso this far from vertical counts as down (degrees)")
    down_hips_above_feet: float = option(0.35, "hips this close above the feet (torso lengths) count as down")
    upright_torso_deg: float = option(35.0, "torso within this of vertical (and hips high) counts as upright")
    upright_hips_above_feet: float = option(0.7, "hips at least this high above the feet count as upright")
    min_visibility: float = option(0.5, "a joint's visibility (0-1) to count as seen")
    min_rate_hz: float = option(2.0, "below this many analysed frames per second of a stream, fall detection "
                                     "pauses with a warning instead of guessing")
    same_fall_s: float = option(60.0, "a fall raised this soon, near where a person who is no longer tracked "
                                      "raised one, is the same fall (the person was re-tracked): no second alert")

    def validate(self) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError("threshold must be between 0 and 1")
        for name in ("every_s", "confirm_s", "fall_window_s", "lost_s", "refind_s", "refind_confirm_s", "clear_s",
                     "long_lie_s", "cooldown_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


class Phase(str, Enum):
    UPRIGHT = "upright"
    FALLING = "falling"
    ALERTED = "alerted"


@dataclass
class FallState:
    stream: str
    track_id: int
    phase: Phase = Phase.UPRIGHT
    score: float = 0.0
    descent: float = 0.0  # fastest hip descent in the last second of the last window, torso lengths per second
    spacing: float = 0.0  # the widest gap between pose samples in the last 1.5 s, seconds
    max_score: float = 0.0
    last_model: float = -1e9
    last_seen: float = 0.0
    last_wall: float = 0.0
    signal_at: float = 0.0  # when the fall signal came
    down_time: float = 0.0  # seconds seen down since the fall signal
    down_frames: int = 0  # frames seen down since the fall signal
    seen_frames: int = 0  # frames seen since the fall signal
    last_update: float = 0.0
    upright_since: float | None = None
    alerted_at: float = 0.0
    escalated: bool = False
    cooldown_until: float = -1e9
    first_seen: float = 0.0
    centre: tuple[float, float] = (0.0, 0.0)
    size: float = 0.0  # larger side of the body box, pixels
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # the body box when last seen, image px
    found_at: tuple[float, float] = (0.0, 0.0)  # centre (image px) where a claim's track was found down
    lost_recorded: bool = False
    silent: bool = False  # its fall was another track's alert (a re-tracked person): it raises and clears nothing
    claim: Vanished | None = None  # the vanished track whose fall this track continues (found down there)
    details: dict = field(default_factory=dict)

    def start_falling(self, now: float, score: float) -> None:
        """Enter the falling phase at ``now`` (media seconds) with fall score ``score``: nothing seen down yet."""
        self.phase, self.signal_at, self.max_score = Phase.FALLING, now, score
        self.down_time, self.down_frames, self.seen_frames = 0.0, 0, 0

    @property
    def weak_claim(self) -> bool:
        """This track continues a vanished track's fall that had no fall signal of its own."""
        return self.claim is not None and not self.claim.falling


@dataclass(frozen=True)
class Raised:
    """A fall alert raised: where and when, to recognise the same fall on a new track of the same person."""

    stream: str
    track_id: int
    at: float
    centre: tuple[float, float]
    size: float


@dataclass(frozen=True)
class Vanished:
    stream: str
    track_id: int
    at: float
    centre: tuple[float, float]
    size: float
    score: float
    going_down: bool  # falling, descending fast, or a fall score at the threshold when last seen
    upright: bool = False  # upright when last seen
    spacing: float = 0.0  # the stream's usual gap between analysed frames when it vanished (a low rate), seconds
    falling: bool = False  # in the falling phase (the model's signal with a rapid descent) when last seen
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # its body box when last seen, image px



COLLAPSED_RATIO = 0.5  # a landmark pose less than half the size of the finder's body for the person has collapsed


def collapsed(pose) -> bool:
    """Whether a landmark pose has collapsed inside the person the body finder sees: its box's long side (image px)
    under COLLAPSED_RATIO of the long side of the finder's keypoints seen (score >= 0.2) for the same person. A
    collapsed pose (all 33 points bunched on the head, as a landmark model can give for a person walking away) says
    nothing of how the body lies, so it is no evidence of a person down. False without the finder's keypoints."""
    if pose.body is None or pose.source == "finder":
        return False
    seen = pose.body[pose.body[:, 2] >= 0.2, :2]
    if len(seen) < 2:
        return False
    body = float((seen.max(0) - seen.min(0)).max())
    x0, y0, x1, y1 = pose.box
    return max(x1 - x0, y1 - y0) < COLLAPSED_RATIO * body


def body_state(torso: float, hips: float, s: FallSettings, feet_visible: bool = True) -> tuple[bool, bool]:
    """(down, upright) from one frame's torso angle (degrees) and hips above feet (torso lengths). Hips at the
    level of the feet count only when the feet are seen (someone walking out of the picture has guessed feet)."""
    down = torso > s.down_torso_deg or (feet_visible and hips < s.down_hips_above_feet)
    upright = torso < s.upright_torso_deg and hips > s.upright_hips_above_feet
    return bool(down), bool(upright)


class FallAnalyzer:
    name = "fall"

    def __init__(self, model: Scorer, settings: FallSettings = FallSettings(), forget_s: float = 120.0):
        self.model, self.s, self.forget_s = model, settings, forget_s
        self.min_rate_hz = settings.min_rate_hz
        self.window_s = model.steps / RATE_HZ
        self.states: dict[tuple[str, int], FallState] = {}
        self.vanished: deque[Vanished] = deque(maxlen=32)
        self.raised: deque[Raised] = deque(maxlen=32)
        self._held: list[tuple[FallState, Event]] = []  # raised this frame: sent at end_frame unless the same fall
        self._seen: set[tuple[str, int]] = set()  # tracks updated in this frame
        self._frames: dict[str, deque[float]] = {}  # each stream's last analysed frame times (media seconds)

    def _event(self, st: FallState, type_: str, state: EventState, now: float, wall: float, **details) -> Event:
        return Event(type_, st.stream, st.track_id, state, round(st.max_score, 4), now, wall,
                     {"phase": st.phase.value, **details})

    def retune(self, new: object) -> bool:
        if not isinstance(new, FallAnalyzer) or new.s.model != self.s.model:
            return False
        self.s, self.min_rate_hz = new.s, new.min_rate_hz
        return True

    def update(self, track: Track, stream: str, now: float, wall: float) -> list[Event]:
        s = self.s
        key = (stream, track.id)
        if key not in self.states:
            self.states[key] = FallState(stream, track.id, first_seen=now, last_update=now)
        st = self.states[key]
        self._seen.add(key)
        if st.lost_recorded:  # seen again after vanishing: no new track is this person found down elsewhere
            self._void_claims(st)
        dt = min(max(now - st.last_update, 0.0), 0.2)
        st.last_seen, st.last_wall, st.last_update, st.lost_recorded = now, wall, now, False
        st.box = track.box
        x0, y0, x1, y1 = track.box
        st.centre, st.size = ((x0 + x1) / 2, (y0 + y1) / 2), max(x1 - x0, y1 - y0)
        feet_seen = bool(track.smoothed[[L_ANKLE, R_ANKLE], 3].max() >= s.min_visibility)
        torso, hips = posture_measures(track.smoothed)
        down, upright = body_state(torso, hips, s, feet_seen)
        down = down and (track.evidence or self._still_vouched(st, track))  # a frame nobody vouches for as a body
        # (a ROI left on a new scene) shows no one
        down = down and not collapsed(track.pose)  # nor does a pose bunched on the head of the body the finder sees
        st.upright_since = (st.upright_since if st.upright_since is not None else now) if upright else None
        if st.phase == Phase.UPRIGHT and down and now - st.first_seen <= 0.5:
            self._refound(st, now)
        if now - st.last_model >= s.every_s:  # the window and the model: every_s, not every frame
            hist = recent_history(track.history, now - self.window_s - 0.2)
            feats = window(*hist, end=now, seconds=self.window_s, rate=RATE_HZ) if hist is not None else None
            if feats is not None:
                st.score, st.last_model = self.model(feats), now
                st.descent = float(feats[-int(RATE_HZ):, HIP_VY].max())  # the last second
            elif hist is not None:
                st.descent = young_descent(*hist, now)
        st.spacing = sample_spacing(track.history, now)
        descent = st.descent
        events: list[Event] = []
        if st.phase == Phase.UPRIGHT and st.last_model > -1e9 and track.evidence:
            if now >= st.cooldown_until and st.score >= s.threshold and \
                    descent >= descent_needed(s.descent_speed, st.spacing):
                st.start_falling(now, st.score)
                st.claim, st.details = None, {"descent_speed": round(descent, 2)}
                log.debug("%s track %d: falling (score %.2f, descent %.2f)", stream, track.id, st.score, descent)
        if st.phase == Phase.FALLING and upright and (st.weak_claim or st.down_frames):
            # read standing after being read down: the down reads were glitches (a person who fell is not read
            # upright before the alert); on a weak claim, the track was never a person lying there
            log.debug("%s track %d: read upright while falling: down reads dropped", stream, track.id)
            st.down_time, st.down_frames = 0.0, 0
            if st.weak_claim:
                st.phase, st.claim, st.details = Phase.UPRIGHT, None, {}
        if st.phase == Phase.FALLING:
            st.max_score = max(st.max_score, st.score)
            st.down_time += dt if down else 0.0
            st.down_frames += int(down)
            st.seen_frames += 1
            # a sample after a long gap (a low analysed rate, frames dropped) spans as long as two would: one read
            # suffices when it is the landmark model's (not the finder's coarse keypoints) and lying, not upside down
            frames = self._frames.get(stream)
            gap = now - frames[-1] if frames else 0.0
            single = down and gap > COARSE_SPACING_S + 1e-6 and \
                track.pose.source != "finder" and torso <= INVERTED_DEG
            if self._confirmed(st, down, now, single):
                self._held.append((st, self._raise(st, now, wall, person_lost=False)))
            elif now - st.signal_at > self._window(st):
                st.phase, st.claim = Phase.UPRIGHT, None  # never went down: a stumble, or sitting down briskly
        elif st.phase == Phase.ALERTED:
            if st.upright_since is not None and now - st.upright_since >= s.clear_s:
                st.phase, st.cooldown_until = Phase.UPRIGHT, now + s.cooldown_s
                events.append(self._event(st, "fall", EventState.CLEARED, now, wall, reason="got up",
                                          down_for_s=round(now - st.alerted_at, 1)))
            elif not st.escalated and now - st.alerted_at >= s.long_lie_s:
                st.escalated = True
                events.append(self._event(st, "fall_long_lie", EventState.RAISED, now, wall,
                                          down_for_s=round(now - st.alerted_at, 1)))
        return [] if st.silent else events

    @staticmethod
    def _still_vouched(st: FallState, track: Track) -> bool:
        """Whether a frame without person evidence (Track.evidence) still shows the body of a person falling: the
        track is in the falling phase from a fall signal of its own (which needed evidence), the landmark model
        follows it from its own last pose with a pose flag of at least LYING_FLAG, and the body finder still matches
        a detection there, however weak (Pose.finder_score > 0). MoveNet, trained on COCO's mostly upright people,
        scores a person lying on the floor low (cases/small_person_4k.mp4 with the CCTV config: 0.08-0.14 while
        lying, against 0.3 standing), so its evidence alone lost every fall it saw end on the floor; two models
        agreeing something is there, one of them sure it is a body, is evidence. A ROI left on a new picture has no
        detection under it, and a new track's claim (found down where someone vanished) is not relaxed."""
        pose = track.pose
        return st.phase == Phase.FALLING and st.claim is None and pose.source == "landmarks" and \
            pose.finder_score > 0 and pose.score >= LYING_FLAG

    def _confirmed(self, st: FallState, down: bool, now: float, single: bool = False) -> bool:
        """Whether a falling track has been seen down long enough for the alert. After a fall signal of its own:
        down confirm_s in total, in MIN_DOWN_FRAMES frames (one when ``single``: a clear read at a low rate). On a
        claim (continuing a vanished track's fall, with or without its fall signal): down now, in at least half of
        (and at least MIN_DOWN_FRAMES of) the frames seen over refind_confirm_s since it was found, and still where
        it was found (STILL_BODIES)."""
        if st.claim is not None:
            moved = np.hypot(st.centre[0] - st.found_at[0], st.centre[1] - st.found_at[1])
            return down and now - st.signal_at >= self.s.refind_confirm_s and moved <= STILL_BODIES * st.size and \
                st.down_frames >= max(MIN_DOWN_FRAMES, 0.5 * st.seen_frames)
        return st.down_time >= self.s.confirm_s and st.down_frames >= (1 if single else MIN_DOWN_FRAMES)

    def _window(self, st: FallState) -> float:
        """Seconds after the fall signal within which the track must be confirmed down."""
        return max(self.s.fall_window_s, 2 * self.s.refind_confirm_s) if st.claim is not None else \
            self.s.fall_window_s

    def _void_claims(self, back: FallState) -> None:
        """``back`` vanished and is seen again: a track that took it for found down elsewhere (and has not raised
        yet) was wrong; it goes back to upright."""
        for st in self.states.values():
            if st.phase == Phase.FALLING and st.claim is not None and st.claim.stream == back.stream and \
                    st.claim.track_id == back.track_id:
                log.debug("%s track %d: track %d is back, so not found down here", st.stream, st.track_id,
                          back.track_id)
                st.phase, st.claim, st.details = Phase.UPRIGHT, None, {}

    def stream_spacing(self, stream: str) -> float:
        """The median gap (seconds) between the last analysed frames of ``stream``: its analysed frame rate, untouched
        by one dropped frame or one person's pose lost. 0 before two frames."""
        times = self._frames.get(stream)
        return float(np.median(np.diff(times))) if times is not None and len(times) >= 2 else 0.0

    def _refound(self, st: FallState, now: float) -> None:
        """A new track that is down where another vanished moments ago continues that person's fall: it takes
        over the vanished track's state, so the fall raises one alert, not one per track."""
        for gone in reversed(self.vanished):
            near = np.hypot(gone.centre[0] - st.centre[0], gone.centre[1] - st.centre[1]) <= 1.5 * max(
                gone.size, st.size)
            similar = st.size >= 0.4 * gone.size  # a person's body, not a fragment the pose model made up
            # going down when lost; or, at a low frame rate (samples too far apart to show a descent), upright when
            # lost and down so soon after that the fall itself fell between the frames. At higher rates a person who
            # vanished upright walked away: something lying found there is no fall (make demo's cloth on the lawn)
            unseen_fall = gone.upright and gone.spacing >= COARSE_SPACING_S and \
                now - gone.at <= UNSEEN_FALL_S + gone.spacing + 1e-6
            if gone.stream != st.stream or not 0 < now - gone.at <= self.s.refind_s or not near or not similar or \
                    box_iou(gone.box, st.box) <= 0 or not (gone.going_down or unseen_fall):
                continue
            self.vanished.remove(gone)
            before = self.states.get((gone.stream, gone.track_id))
            st.details = {"refound_after_s": round(now - gone.at, 2), "lost_track": gone.track_id}
            if before is not None and before.phase == Phase.ALERTED:  # already alerted while they were unseen
                st.phase, st.alerted_at, st.max_score = Phase.ALERTED, before.alerted_at, before.max_score
            else:
                st.start_falling(now, gone.score)
                st.claim, st.found_at = gone, st.centre
                if st.weak_claim:
                    st.details["fall_signal"] = False  # found down after a vanish with no fall signal of its own
            if before is not None:  # the vanished track's fall is this track's now
                before.phase, before.cooldown_until = Phase.UPRIGHT, now + self.s.cooldown_s
            return

    def _raise(self, st: FallState, now: float, wall: float, person_lost: bool) -> Event:
        st.phase, st.alerted_at, st.escalated = Phase.ALERTED, now, False
        return self._event(st, "fall", EventState.RAISED, now, wall, person_lost=person_lost,
                           since_signal_s=round(now - st.signal_at, 2), **st.details)

    def end_frame(self, stream: str, now: float, wall: float) -> list[Event]:
        """After every frame of ``stream``: falling people who vanished raise the alert, and who vanished is
        remembered (to recognise them found down nearby); old states are forgotten."""
        events = []
        frames = self._frames.setdefault(stream, deque(maxlen=6))
        frames.append(now)
        for key, st in list(self.states.items()):
            if st.stream != stream or st.last_seen >= now:
                continue
            if not st.lost_recorded and st.phase != Phase.ALERTED:
                st.lost_recorded = True
                falling = st.phase == Phase.FALLING and not st.weak_claim
                going_down = (st.phase == Phase.FALLING or
                              st.descent >= descent_needed(self.s.descent_speed, st.spacing) or
                              st.score >= self.s.threshold)
                self.vanished.append(Vanished(stream, st.track_id, st.last_seen, st.centre, st.size, st.score,
                                              going_down, st.upright_since is not None, self.stream_spacing(stream),
                                              falling, st.box))
            if st.phase == Phase.FALLING and st.down_time > 0 and st.down_frames >= MIN_DOWN_FRAMES and \
                    st.claim is None and now - st.last_seen >= self.s.lost_s:
                self._held.append((st, self._raise(st, now, wall, person_lost=True)))
            elif now - st.last_seen > self.forget_s:
                del self.states[key]
        events += self._release(stream, now)
        self._seen = {k for k in self._seen if k[0] != stream}
        return events

    def _release(self, stream: str, now: float) -> list[Event]:
        """This frame's fall alerts of ``stream``, less those that repeat a fall already raised nearby in the last
        ``same_fall_s`` by a track no longer seen (the same person, re-tracked): one alert per fall, judged by place
        and time rather than by track id. A weak claim (found down where a track vanished, with no fall signal of
        its own) repeats such a fall even while the alerted track is still seen: it is a fragment of that person
        (their legs, tracked apart), not a second person falling. A repeat's track is kept silent (it raises and
        clears nothing)."""
        out, kept = [], []
        for st, event in self._held:
            if st.stream != stream:
                kept.append((st, event))
                continue
            earlier = next((r for r in self.raised if r.stream == stream and r.track_id != st.track_id and
                            0 <= now - r.at <= self.s.same_fall_s and
                            (st.weak_claim or (stream, r.track_id) not in self._seen) and
                            np.hypot(r.centre[0] - st.centre[0], r.centre[1] - st.centre[1]) <=
                            1.5 * max(r.size, st.size)), None)
            if earlier is not None:
                st.silent = True
                log.info("%s track %d: the same fall as track %d's alert %.1f s ago (re-tracked): not raised again",
                         stream, st.track_id, earlier.track_id, now - earlier.at)
                continue
            self.raised.append(Raised(stream, st.track_id, now, st.centre, st.size))
            out.append(event)
        self._held = kept
        return out
