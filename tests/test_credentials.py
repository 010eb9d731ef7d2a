"""Camera passwords never reach the terminal, whatever characters they hold, and a wrong password is named as such
(issue 16, kind 4): against a real RTSP server that asks for a user name and password."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from edge_app.sources.capture import redact
from edge_app.sources.reader import encode_credentials
from support import assert_clean_error, need_shared, run_cli

PASSWORD = "p@ss/w:rd#1"


@pytest.mark.parametrize("url, shown", [
    ("rtsp://admin:p@ss/w:rd#1@cam.local/live", "rtsp://***@cam.local/live"),
    ("rtsp://admin:p@ss/w:rd#1@10.0.0.5:554/Streaming/Channels/101", "rtsp://***@10.0.0.5:554/Streaming/Channels/101"),
    ("rtsps://u:a@b@c:d@host/x", "rtsps://***@host/x"),
    ("rtsp://user:p%40ss@host/live", "rtsp://***@host/live"),
    ("rtsp://user@host/live", "rtsp://***@host/live"),
    ("rtsp://host:554/live", "rtsp://host:554/live"),
    ("clip.mp4", "clip.mp4"),
])
def test_redaction_hides_everything_between_the_scheme_and_the_host(url, shown):
    assert redact(url) == shown
    assert redact(encode_credentials(url)) == shown


def test_reserved_characters_in_credentials_are_percent_encoded():
    assert encode_credentials(f"rtsp://admin:{PASSWORD}@h:554/live") == "rtsp://admin:p%40ss%2Fw%3Ard%231@h:554/live"
    assert encode_credentials("rtsp://admin:plain@h/live") == "rtsp://admin:plain@h/live"
    assert encode_credentials("rtsp://admin:p%40ss@h/live") == "rtsp://admin:p%40ss@h/live"  # already encoded


def leaks(text: str) -> list[str]:
    """Pieces of the password (plain or percent-encoded) found in ``text``."""
    pieces = ["p@ss", "ss/w", "w:rd", "rd#1", "rd#2", "wrong", quote(PASSWORD, safe=""), "p%40ss"]
    return [p for p in pieces if p in text]


@pytest.fixture
def camera(rtsp_server):
    clip = need_shared("falls", "upfall_s1", "Activity7", "Trial1Cam1.mp4")
    return rtsp_server({"live": clip}, auth=f"admin:{PASSWORD}")


@pytest.mark.parametrize("written", [quote(PASSWORD, safe=""), PASSWORD])  # percent-encoded, or as it is
def test_the_right_password_plays_and_is_never_printed(camera, written):
    url = camera.url("live").replace("rtsp://", f"rtsp://admin:{written}@")
    proc = run_cli("edge_app", "--log-level", "debug", "run", "--headless", "--http", "off", "--source",
                   f"door={url}", "--max-frames", "20", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "rtsp://***@127.0.0.1" in proc.stderr
    assert leaks(proc.stderr + proc.stdout) == []


@pytest.mark.parametrize("password", ["wrong", "p@ss/w:rd#2"])  # wrong, and wrong with reserved characters
def test_a_refused_password_says_401_at_once_and_leaks_nothing(camera, password):
    url = camera.url("live").replace("rtsp://", f"rtsp://admin:{password}@")
    proc = run_cli("edge_app", "run", "--headless", "--http", "off", "--source", f"door={url}", timeout=60)
    last = assert_clean_error(proc, "source door (rtsp://***@127.0.0.1", "401 Unauthorized",
                              "percent-encode")
    assert "unreachable" not in last
    assert leaks(proc.stderr + proc.stdout) == []
