"""Apprise notifications, the part without sockets: the message of an event, which events are sent, the settings'
errors, and that secrets are scrubbed."""

from __future__ import annotations

import time

import pytest

from edge_app.alerts.bus import event_record
from edge_app.alerts.notify import AppriseSettings, NotifySink, message, scheme_of, scrub, secret_parts, url_problem
from edge_app.records import Event, EventState


def record(kind: str = "fall", state: str = "raised", **details) -> dict:
    return event_record(Event(kind, "hall", 3, EventState(state), 0.934, 12.5, 1_790_000_000.0,
                              {"alert_id": "6b01-1", **details}), 42)


def test_a_raised_fall_message():
    title, body, kind = message(record(), attached="hall-fall.jpg")
    assert title == "Vigil: fall on stream hall (track 3)"
    lines = body.splitlines()
    assert "Severity: critical" in lines and "State: raised" in lines and "Score: 0.93" in lines
    assert "Alert id: 6b01-1" in lines and "Snapshot: hall-fall.jpg (attached)" in lines
    assert f"Time: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(1_790_000_000.0))}" in body
    assert kind == "failure"


def test_other_states_and_types_say_what_happened():
    title, body, kind = message(record("fall_long_lie", "acknowledged", by="Ann", via="console"))
    assert title == "Vigil: fall long lie acknowledged on stream hall (track 3)" and kind == "info"
    assert "By: Ann (via console)" in body
    title, body, kind = message(record("fatigue", "cleared", reason="rested"))
    assert title == "Vigil: fatigue cleared on stream hall (track 3)" and kind == "success"
    assert "Reason: rested" in body and "Severity: warning" in body
    assert message(record("fatigue"))[2] == "warning"
    _, body, _ = message(record(evidence="not saved (No space left on device)"), note="(left out)")
    assert "Evidence: not saved (No space left on device)" in body and body.endswith("(left out)")


def test_only_the_states_and_types_configured_are_sent(tmp_path):
    sink = NotifySink(AppriseSettings(enabled=True, urls=["json://127.0.0.1:9/x"], states=["raised", "cleared"],
                                      types=["fall"], spool_dir=tmp_path))
    assert sink.accepts(record()) and sink.accepts(record(state="cleared"))
    assert not sink.accepts(record(state="acknowledged")) and not sink.accepts(record("fatigue"))
    assert not sink.accepts(record("posture", "info"))
    assert sink.name == "notify (json)"  # named by the service, never by the URL


def test_the_scheme_is_the_only_part_of_a_url_said():
    assert scheme_of("mailto://bob:pw@example.com") == "mailto"
    assert scheme_of("NTFYS://topic") == "ntfys"
    assert scheme_of("bob:pa55word@example.com") == "?"  # no scheme: what comes first may be a password
    assert scheme_of("pa55word://x") == "pa55word"  # looks like a scheme: it is one as far as anyone can tell


def test_secret_parts_are_scrubbed_from_a_reason():
    parts = secret_parts(["tgram://123456789:ABCdefGHIjkl/12345", "json://vigil:S3cret%21@10.0.0.5:8080/hook"])
    text = "sent to 123456789:ABCdefGHIjkl and 10.0.0.5:8080 as vigil:S3cret! (also S3cret%21), error=500"
    clean = scrub(text, parts)
    for secret in ("ABCdefGHIjkl", "123456789", "S3cret", "10.0.0.5", "vigil"):
        assert secret not in clean, (secret, clean)
    assert "error=500" in clean


@pytest.mark.parametrize("url, needle", [
    ("json://127.0.0.1:8080/x", None),
    ("mailto://bob:pw@example.com", None),
    ("nosuch://bob:pa55word@x", "nosuch:// is not a service Apprise knows"),
    ("json://bob:pa55word@host:port/x", "cannot read this json:// URL"),
    ("bob:pa55word@example.com", "not an Apprise URL"),
])
def test_url_problems_never_quote_the_url(url, needle):
    problem = url_problem(url)
    if needle is None:
        assert problem is None
    else:
        assert needle in problem and "pa55word" not in problem


@pytest.mark.parametrize("settings, needle", [
    (dict(enabled=True), "urls: give at least one"),
    (dict(states=["raised", "shouted"]), "states[1]"),
    (dict(types=["fal"]), "types[0]"),
    (dict(timeout_s=0), "timeout_s"),
    (dict(urls=["json://127.0.0.1/x", "bogus"]), "urls[1]"),
])
def test_bad_settings_name_their_key(settings, needle):
    with pytest.raises(ValueError) as err:
        AppriseSettings(**settings).validate()
    assert needle in str(err.value)


def test_the_urls_are_secret_in_a_printed_config():
    assert "pa55word" not in repr(AppriseSettings(urls=["mailto://bob:pa55word@example.com"]))
