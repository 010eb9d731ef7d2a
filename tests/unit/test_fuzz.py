"""Property-based fuzzing (hypothesis) of every payload Vigil parses: whatever arrives, the answer is a result or
the clear error (VigilError, one line), never a crash. The config loader's fuzz is in test_config.py."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from edge_app.alerts.spool import Spool
from edge_app.errors import VigilError
from helpers.fuzz import FUZZ, json_values, one_line


@FUZZ
@given(outbox=st.binary(max_size=400) | st.lists(json_values, max_size=5).map(
    lambda vs: "\n".join(json.dumps(v) for v in vs).encode()), delivered=st.binary(max_size=40))
def test_a_damaged_spool_is_read_or_cleanly_refused(tmp_path_factory, outbox, delivered):
    folder = tmp_path_factory.mktemp("spool")
    (folder / "outbox.jsonl").write_bytes(outbox)
    (folder / "delivered").write_bytes(delivered)
    try:
        spool = Spool.in_folder(folder)
    except VigilError as exc:
        one_line(exc)
        return
    pending = spool.pending()
    assert all(isinstance(r, dict) and isinstance(r.get("seq"), int) for r in pending)
    record = spool.put({"type": "fall"})  # and it still takes new events
    assert record["seq"] > max([r["seq"] for r in pending], default=0)


@FUZZ
@given(data=json_values | st.text(max_size=80))
def test_clip_lists(tmp_path_factory, data):
    from edge_app.alert_eval import load_clips

    folder = tmp_path_factory.mktemp("clips")
    path = folder / "clips.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    try:
        load_clips(path, None)
    except VigilError as exc:
        one_line(exc)


@FUZZ
@given(text=st.text(max_size=200))
def test_label_csv(tmp_path_factory, text):
    from edge_app.alert_eval import urfd_labels

    path = tmp_path_factory.mktemp("labels") / "labels.csv"
    path.write_text(text)
    try:
        labels = urfd_labels(path)
    except VigilError as exc:
        one_line(exc)
        return
    assert labels


@FUZZ
@given(http=st.text(max_size=30), crop=st.text(max_size=30), source=st.text(min_size=1, max_size=40))
def test_command_line_values(http, crop, source):
    from edge_app.__main__ import parse_crops, server_override, source_spec
    from edge_app.config import ServerConfig

    for parse in (lambda: server_override(ServerConfig(), http), lambda: parse_crops([crop]),
                  lambda: source_spec(source, 0, False)):
        try:
            parse()
        except VigilError as exc:
            one_line(exc)
