"""Fall detection: features, the state machine on scripted skeletons, and the real model and pipeline on the shared
footage (held-back clips)."""

from __future__ import annotations

import pytest

from edge_app.analysis.fall import FallAnalyzer
from helpers.fall import ScriptedModel
from support import need_shared


def test_int8_fall_model_agrees_with_float_on_held_back_clips(manifest):
    entry = manifest["models"].get("fall_detector")
    if entry is None:
        pytest.skip("fall_detector not built (needs ../shared/data)")
    acc = entry["variants"]["int8"]["runs"]["int8"]["accuracy"]
    assert acc["agreement_source"] == "held-back clips" and acc["agreement_windows"] > 1000
    assert acc["agreement_with_f32"] >= 0.99
    assert entry["variants"]["int8"]["runs"]["int8"]["meets_bound"]


def test_lying_down_on_purpose_is_rejected_by_the_model_not_by_the_rules(manifest):
    """The rules alone would take lying down on purpose for a fall: an always-"fall" model raises on it, so the real
    model's silence there (the test above) is the model's doing, and that test can fail."""
    from edge_app.app import build_pose_stack
    from edge_app.config import load_config
    from edge_app.sources.reader import open_reader
    from edge_app.tracking.tracker import Tracker

    clip = need_shared("falls", "upfall_s1", "Activity11", "Trial2Cam1.mp4")
    cfg = load_config()
    stack = build_pose_stack(cfg)
    engine, tracker = stack.engine(cfg), Tracker(stack.tracker_settings(cfg))
    always = FallAnalyzer(ScriptedModel(lambda w: 1.0), cfg.analysis.fall)
    reader = open_reader(str(clip), live=False)
    raised = []
    while (picture := reader.read()) is not None:
        for track in tracker.update(engine.process(picture.image), picture.pts):
            raised += [e for e in always.update(track, "c", picture.pts, 0.0) if e.state == "raised"]
        raised += [e for e in always.end_frame("c", picture.pts, 0.0) if e.state == "raised"]
    reader.close()
    assert [e.type for e in raised][:1] == ["fall"]  # (and, held down long enough, its long-lie escalation)
