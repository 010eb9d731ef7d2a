"""Camera passwords never reach the terminal, whatever characters they hold, and a wrong password is named as such
(issue 16, kind 4): against a real RTSP server that asks for a user name and password."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from helpers.credentials import PASSWORD
from support import assert_clean_error, need_shared, run_cli


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
