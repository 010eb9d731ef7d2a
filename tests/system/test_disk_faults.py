"""An optional output's disk fault never stops monitoring (issue 16, kind 3), on real filesystems: small tmpfs mounts
that fill up, and read-only mounts (mounted here, as root). Integration tier for the event log and the outbox, system
tier for whole runs."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import av
import pytest

from edge_app.alerts.bus import EventLog, event_record
from edge_app.alerts.spool import Spool
from edge_app.io_faults import IO_FAULTS
from edge_app.records import Event
from support import PYTHON, REPO, assert_clean_error, need_shared, run_cli, wait_for


@pytest.fixture
def mount(tmp_path):
    """mount(size_kb, read_only=False) -> a fresh tmpfs folder; unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    mounted: list[Path] = []

    def make(size_kb: int, read_only: bool = False) -> Path:
        where = tmp_path / f"mnt{len(mounted)}"
        where.mkdir()
        options = f"size={size_kb}k" + (",ro" if read_only else "")
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        mounted.append(where)
        return where

    yield make
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(folder: Path) -> None:
    """Fill the filesystem of ``folder`` to the last byte (files ``filler*``: remove them to free the disk)."""
    for i, size in enumerate((65536, 4096, 1)):  # big blocks, then the last partial ones
        fd = os.open(folder / f"filler{i}", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * size)
        except OSError:
            pass
        finally:
            os.close(fd)


def posture(i: int) -> Event:
    return Event("posture", "cam", 1, "info", 1.0, float(i), time.time(), {"posture": "standing"})


def test_the_event_log_on_a_full_disk_says_it_once_goes_on_and_recovers(mount, caplog):
    disk = mount(256)
    log_path = disk / "events.jsonl"
    events = EventLog(log_path)
    events.publish(event_record(posture(0), 0))
    before = IO_FAULTS.snapshot()["errors"].get("events", 0)
    fill(disk)
    with caplog.at_level("WARNING"):
        for i in range(1, 30):  # each line is a few hundred bytes: the disk refuses them
            events.publish(event_record(posture(i), i))
        failures = IO_FAULTS.snapshot()["errors"].get("events", 0) - before
        assert failures >= 1 and caplog.text.count("events: cannot write") == 1
        assert "No space left on device" in caplog.text
        for p in disk.glob("filler*"):
            p.unlink()
        events.publish(event_record(posture(99), 99))
        assert "events: writing again" in caplog.text
    events.close()
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip().endswith("}")]
    assert lines[0]["ts"] == 0.0 and lines[-1]["ts"] == 99.0
    assert "events" not in IO_FAULTS.snapshot()["failing"]


def test_an_outbox_on_a_full_disk_keeps_events_in_memory_and_saves_them_later(mount, caplog):
    disk = mount(256)
    spool = Spool.in_folder(disk / "outbox", "webhook")
    fill(disk)
    with caplog.at_level("WARNING"):
        spool.put({"n": 1, "state": "raised"})
        spool.put({"n": 2, "state": "raised"})
    assert [r["n"] for r in spool.pending()] == [1, 2]  # still delivered, from memory
    assert caplog.text.count("outbox:webhook: cannot write") == 1
    for p in disk.glob("filler*"):
        p.unlink()
    spool.put({"n": 3, "state": "raised"})
    assert [r["n"] for r in Spool.in_folder(disk / "outbox", "webhook").pending()] == [1, 2, 3]  # all on disk now


@pytest.mark.parametrize("what", ["evidence", "events"])
def test_a_read_only_output_folder_is_one_line_at_start(mount, tmp_path, what):
    disk = mount(256, read_only=True)
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(f"alerts:\n  evidence:\n    dir: {disk if what == 'evidence' else tmp_path / 'ev'}\n")
    argv = ["run", "--headless", "--http", "off", "--config", str(cfg), "--source",
            str(need_shared("falls", "upfall_s1", "Activity1", "Trial2Cam1.mp4"))]
    if what == "events":
        argv += ["--events", str(disk / "events.jsonl")]
    proc = run_cli("edge_app", *argv)
    assert proc.returncode == 2
    assert_clean_error(proc, "alerts.evidence.dir" if what == "evidence" else "--events", str(disk),
                       "Read-only file system")


def test_a_full_disk_at_start_is_one_line(mount, tmp_path):
    disk = mount(128)
    fill(disk)
    proc = run_cli("edge_app", "run", "--headless", "--http", "off", "--events", str(disk / "events.jsonl"),
                   "--source", str(need_shared("falls", "upfall_s1", "Activity1", "Trial2Cam1.mp4")))
    assert_clean_error(proc, "--events", "No space left on device")


def test_a_disk_that_fills_mid_run_never_stops_fall_monitoring(mount, tmp_path, manifest):
    """The event log and the evidence share a small disk that fills after the first event: the fall is still
    raised and delivered (webhook), each output's fault is said once, and the payload names no missing file."""
    from helpers.webhook import Answering

    clip = need_shared("falls", "upfall_s1", "Activity1", "Trial2Cam1.mp4")  # a fall at 1.39 s
    disk = mount(2048)
    receiver = Answering(lambda method, path: (200, {}, 0.0))
    cfg = tmp_path / "vigil.yaml"
    cfg.write_text(f"alerts:\n  evidence:\n    dir: {disk / 'evidence'}\n"
                   f"  webhook:\n    enabled: true\n    url: http://127.0.0.1:{receiver.port}/hook\n"
                   f"    spool_dir: {tmp_path / 'spool'}\n")
    events = disk / "events.jsonl"
    stats = tmp_path / "stats.json"
    vigil = subprocess.Popen([PYTHON, "-m", "edge_app", "run", "--headless", "--http", "off", "--config", str(cfg),
                              "--source", f"cam={clip}", "--events", str(events), "--stats", str(stats)],
                             cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: events.exists() and events.read_text().count("\n") >= 1 or vigil.poll() is not None, 120,
                 "the first event")
        fill(disk)
        _, stderr = vigil.communicate(timeout=120)
    finally:
        if vigil.poll() is None:
            vigil.kill()
        receiver.stop()
    assert vigil.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    assert "ALERT fall" in stderr
    assert stderr.count("evidence: cannot write") == 1, stderr[-3000:]
    assert stderr.count("events: cannot write") <= 1  # the log's last page may still hold the few lines left
    falls = [body for method, _, body in receiver.requests if method == "POST" and body["type"] == "fall"]
    assert len(falls) == 1
    details = falls[0]["details"]
    assert "snapshot" not in details and "clip" not in details
    assert details["evidence"].startswith("not saved (No space left on device")
    summary = json.loads(stats.read_text())
    assert summary["io_faults"]["errors"]["evidence"] >= 1
    logged = '"type": "fall"' in events.read_text()
    assert logged or summary["io_faults"]["errors"].get("events", 0) >= 1  # in the log, or counted: never silent


def test_an_evidence_clip_that_fills_the_disk_leaves_no_partial_file_and_is_counted(mount, caplog):
    """A clip of real footage (640x480) is being written when the disk fills: its finish fails (ENOSPC from PyAV),
    the half-written file is removed (never renamed to a clip), the fault is counted and said once; once space is
    free the next alert's clip is written."""
    from edge_app.alerts.evidence import EvidenceRecorder, EvidenceSettings, paths_for
    from media import decode

    footage = [image for image, _ in decode(need_shared("falls", "upfall_s1", "Activity1", "Trial2Cam1.mp4"))]
    disk = mount(1024)
    settings = EvidenceSettings(dir=disk / "evidence", before_s=1.0, after_s=1.0)
    rec = EvidenceRecorder(settings)

    def alert(wall: float) -> tuple[Event, Path]:
        e = Event("fall", "cam", 1, "raised", 1.0, 0.0, wall, {})
        snapshot, clip = paths_for(settings, e)
        e.details.update(snapshot=str(snapshot), clip=str(clip))
        return e, clip

    first, lost = alert(time.time())
    partial = lost.with_name(f".{lost.stem}.part.mp4")
    IO_FAULTS.ok("evidence")
    before = IO_FAULTS.snapshot()["errors"].get("evidence", 0)
    with caplog.at_level("WARNING"):
        for i in range(35):  # the alert at 1 s, at 18 fps: the clip ends at frame 36
            rec.frame("cam", i / 18, footage[i], [first] if i == 18 else [])
        wait_for(lambda: rec.clips["cam"][0].writer is not None and rec.clips["cam"][0].writer.frames == 35, 30,
                 "the encoder thread to take every frame so far")
        assert partial.stat().st_size > 0 and not lost.exists()  # on disk, under its partial name
        fill(disk)
        rec.frame("cam", 36 / 18, footage[36], [])  # the clip's last frame: finish on a full disk
        rec.close()
        assert IO_FAULTS.snapshot()["errors"].get("evidence", 0) == before + 1
        assert caplog.text.count("evidence: cannot write") == 1 and "No space left on device" in caplog.text
        assert not partial.exists() and not lost.exists() and lost not in rec.written
        assert [p.name for p in lost.parent.iterdir()] == []
        for p in disk.glob("filler*"):
            p.unlink()
        second, kept = alert(time.time() + 5)
        for i in range(40, 80):
            rec.frame("cam", i / 18, footage[i], [second] if i == 58 else [])
        rec.close()
        assert "evidence: writing again" in caplog.text
    assert kept.exists() and kept in rec.written
    with av.open(str(kept)) as box:
        assert box.streams.video[0].codec_context.name == "h264" and len(list(box.decode(video=0))) == 37
