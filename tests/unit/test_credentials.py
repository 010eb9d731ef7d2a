"""Camera passwords never reach the terminal, whatever characters they hold, and a wrong password is named as such
(issue 16, kind 4): against a real RTSP server that asks for a user name and password."""

from __future__ import annotations

import pytest

from edge_app.sources.capture import redact
from edge_app.sources.reader import encode_credentials
from helpers.credentials import PASSWORD


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
