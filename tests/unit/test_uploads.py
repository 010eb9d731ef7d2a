"""Uploads checked from the console (checks.py): names that try to be paths, types told by their first bytes, size
limits, and nothing written outside the uploads folder. The pipeline's check itself: tests/system/test_uploads.py."""

from __future__ import annotations

import io
import time

import pytest

from edge_app.checks import ClipChecker, UploadRefused, UploadSettings, clean_upload_name, sniff
from edge_app.storage.db import Database

MP4 = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 100
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100


@pytest.mark.parametrize("name", ["../../etc/passwd.mp4", "..", "a/b.mp4", "a\\b.mp4", "x\x00.mp4", "bad\nname.mp4",
                                  "", "x" * 201, "clip..mp4/..", "../x"])
def test_names_that_try_to_be_paths_or_hold_control_characters_are_refused(name):
    with pytest.raises(UploadRefused) as err:
        clean_upload_name(name)
    assert err.value.status == 400


@pytest.mark.parametrize("name", ["fall clip.mp4", "走廊 2024.mov", "a.b.c.jpg", "..hidden-not.mp4"[2:]])
def test_plain_names_are_kept_as_they_are(name):
    assert clean_upload_name(name) == name


def test_types_come_from_the_first_bytes_not_the_name():
    assert sniff(MP4[:16]) == ("video", ".mp4")
    assert sniff(b"RIFF\x00\x00\x00\x00AVI LIST") == ("video", ".avi")
    assert sniff(b"\x1a\x45\xdf\xa3\x00") == ("video", ".mkv")
    assert sniff(JPEG[:16]) == ("image", ".jpg")
    assert sniff(b"\x89PNG\r\n\x1a\n\x00") == ("image", ".png")
    for other in (b"%PDF-1.7", b"#!/bin/sh\nrm", b"PK\x03\x04", b""):
        with pytest.raises(UploadRefused) as err:
            sniff(other)
        assert err.value.status == 415 and "not a video or a photo" in str(err.value)


def checker(tmp_path, max_mb=1.0):
    done = []

    def run(path, folder, kind, exercise, stop):
        done.append((path, exercise))
        (folder / "annotated.mp4").write_bytes(b"result")
        return {"events": [{"type": "fall", "state": "raised"}], "frames": 3, "output": "annotated.mp4"}

    db = Database(tmp_path / "vigil.db")
    return ClipChecker(UploadSettings(max_mb=max_mb), tmp_path / "uploads", db, run), done


def test_an_upload_is_stored_under_a_random_id_checked_once_and_listed(tmp_path):
    c, done = checker(tmp_path)
    record = c.submit("my fall.mp4", io.BytesIO(MP4), len(MP4), "olga", "squat")
    folder = tmp_path / "uploads" / record["id"]
    assert (folder / "input.mp4").read_bytes() == MP4 and record["state"] == "queued"
    c.start()
    deadline = time.monotonic() + 5
    while c.get(record["id"])["state"] != "done" and time.monotonic() < deadline:
        time.sleep(0.05)
    c.stop()
    got = c.get(record["id"])
    assert got["state"] == "done" and got["events"] == [{"type": "fall", "state": "raised"}] and got["user"] == "olga"
    assert c.output(record["id"]) == (folder / "annotated.mp4").resolve() and done == [(folder / "input.mp4", "squat")]
    assert [u["name"] for u in c.list()] == ["my fall.mp4"]
    assert sorted(p.name for p in (tmp_path / "uploads").rglob("*")) == sorted([record["id"], "input.mp4",
                                                                                 "annotated.mp4"])


def test_refused_uploads_leave_nothing_behind(tmp_path):
    c, _ = checker(tmp_path, max_mb=0.001)  # about 1 kB
    with pytest.raises(UploadRefused) as err:
        c.submit("big.mp4", io.BytesIO(MP4 * 20), len(MP4) * 20, "olga")
    assert err.value.status == 413 and "over the 0.001 MB limit" in str(err.value)
    with pytest.raises(UploadRefused) as err:
        c.submit("notes.mp4", io.BytesIO(b"just some text"), 14, "olga")
    assert err.value.status == 415
    with pytest.raises(UploadRefused) as err:  # the body ends before its stated length
        c.submit("cut.mp4", io.BytesIO(MP4[:50]), 500, "olga")
    assert err.value.status == 400 and "ended after" in str(err.value)
    with pytest.raises(UploadRefused, match="exercise 'burpee'"):
        c.submit("ok.mp4", io.BytesIO(MP4), len(MP4), "olga", "burpee")
    assert list((tmp_path / "uploads").iterdir()) == [] and c.list() == []
    assert c.output("0123456789abcdef") is None and c.output("../../../etc") is None


def test_old_uploads_are_removed(tmp_path):
    c, _ = checker(tmp_path)
    record = c.submit("old.jpg", io.BytesIO(JPEG), len(JPEG), "olga")
    assert c.prune(now=time.time() + 31 * 86400) == 1
    assert c.get(record["id"]) is None and not (tmp_path / "uploads" / record["id"]).exists()


def test_no_more_than_max_waiting_uploads_queue(tmp_path):
    db = Database(tmp_path / "vigil.db")
    c = ClipChecker(UploadSettings(max_waiting=2), tmp_path / "uploads", db, lambda *a: {})  # never started
    for i in range(2):
        c.submit(f"{i}.jpg", io.BytesIO(JPEG), len(JPEG), "olga")
    with pytest.raises(UploadRefused) as err:
        c.submit("2.jpg", io.BytesIO(JPEG), len(JPEG), "olga")
    assert err.value.status == 429 and "2 uploads are waiting" in str(err.value)
