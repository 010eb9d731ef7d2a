"""Bad input, one case per row: each gives one clear line on stderr naming the file, key or source, a non-zero exit,
and no traceback (or, where the issue says so, a warning and a run that goes on). Together with the source, crop and
port cases of test_cli.py and test_web.py, and the config cases of test_config.py, this is Vigil's catalogue of
user mistakes."""

from __future__ import annotations

import json

import pytest

from helpers.bad_input import (
    CASES,
    HELD,
    config,
    tiny_video,
)
from support import assert_clean_error, run_cli

# The whole catalogue runs in process (tests/integration/test_bad_input.py); these go through a real process too:
# the exit status and the one line on stderr as a shell sees them.
SMOKE = ["malformed YAML", "corrupted IR", "unreachable RTSP camera", "bad --http"]


@pytest.mark.parametrize("name", SMOKE)
def test_bad_input_is_one_clear_line(name, tmp_path, manifest):
    argv, needles = CASES[name](tmp_path)
    try:
        proc = run_cli("edge_app", *argv, timeout=120)
    finally:
        while HELD:
            HELD.pop().close()
    assert_clean_error(proc, *needles)
    assert not (tmp_path / "pwned").exists()  # the config never runs code


def test_corrupted_frames_inside_a_video_are_skipped_and_counted(tmp_path, manifest):
    video = tiny_video(tmp_path / "v.avi", frames=60)
    data = bytearray(video.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]  # each frame's JPEG
    assert len(starts) >= 60
    for s in starts[20:26]:  # six frames in the middle: their JPEG headers and data overwritten
        data[s:s + 400] = bytes(400)
    video.write_bytes(bytes(data))
    stats = tmp_path / "stats.json"
    proc = run_cli("edge_app", "run", "--headless", "--fast", "--source", f"cam={video}", "--stats", str(stats))
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(stats.read_text())
    source = summary["sources"]["cam"]
    assert source["corrupt"] == 6, source  # one per picture that failed, not per retry
    assert summary["frames"] == 54 and source["ended_early"] is None, (summary["frames"], source)  # went on
    assert proc.stderr.count("cannot be decoded") == 1  # said once


def test_a_missing_device_falls_back_to_cpu_with_a_warning(tmp_path, manifest):
    for device in ("GPU", "NPU"):
        cfg = config(tmp_path, f"inference:\n  device: {device}\n")
        proc = run_cli("edge_app", "run", "--headless", "--config", str(cfg), "--source",
                       str(tiny_video(tmp_path / "v.avi")), "--max-frames", "3")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert f"device {device} is not available on this machine" in proc.stderr and "falling back to CPU" in \
            proc.stderr
