"""The operator HTTP endpoints: MJPEG view, snapshot, Prometheus /metrics, health, token and binding rules."""

from __future__ import annotations

import re

import numpy as np

from edge_app.web.prometheus import render
from edge_app.web.server import FrameHub
from helpers.web import snapshot_of

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)*\})? -?[0-9.e+-]+$')


def test_prometheus_text_is_well_formed():
    text = render(snapshot_of())
    lines = text.strip().splitlines()
    families = {ln.split()[2] for ln in lines if ln.startswith("# TYPE")}
    assert {"vigil_frames_total", "vigil_stage_latency_ms", "vigil_glass_to_render_ms", "vigil_source_up"} <= families
    for line in lines:
        assert line.startswith("# ") or SAMPLE.match(line), line
    assert 'vigil_frames_total{stream="cam-1"} 5' in lines
    assert 'vigil_dropped_frames_total{stream="cam-1"} 2' in lines
    assert 'vigil_stage_latency_ms{stream="cam-1",stage="infer",quantile="0.50"} 3' in lines
    assert 'vigil_glass_to_render_ms{stream="cam-1",quantile="0.99"} 8' in lines


def test_prometheus_escapes_label_values():
    snap = snapshot_of()
    snap["sources"] = {'a"b\\c': {"status": "online", "captured": 1, "reconnects": 0}}
    assert 'stream="a\\"b\\\\c"' in render(snap)


def test_hub_builds_the_mosaic_only_when_asked_and_once_per_frame():
    hub = FrameHub()
    red, blue = np.zeros((120, 160, 3), np.uint8), np.zeros((120, 160, 3), np.uint8)
    red[..., 2], blue[..., 0] = 255, 255
    hub.publish(None, {"door": red, "hall": blue})  # the renderer's way with no window and no recording
    seq, view = hub.newer_than(0, 0)
    assert seq == 1 and view.shape == (480, 1280, 3)  # two tiles side by side, each scaled to 640 wide
    assert view[240, 320, 2] == 255 and view[240, 960, 0] == 255 and view[240, 960, 2] == 0  # in stream order
    assert hub.newer_than(0, 0)[1] is view  # built once for this frame, whoever asks
    assert hub.newer_than(0, 0, "hall")[1] is blue  # one stream's own view is never rebuilt
    hub.publish(None, {"door": blue, "hall": red})
    assert hub.newer_than(1, 0)[1][240, 320, 0] == 255  # the next frame gets a new mosaic
