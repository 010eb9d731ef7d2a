"""Security: loopback by default, secrets never shown (RTSP credentials, the MQTT password) in logs, events, the
console, metrics or MQTT, and no way out of the configured folders through stream names or URLs."""

from __future__ import annotations

import json

import pytest

from edge_app.config import load_config
from helpers.security import MQTT_SECRET
from support import MOSQUITTO


def test_defaults_listen_on_loopback_only():
    cfg = load_config()
    assert cfg.server.host == "127.0.0.1" and cfg.server.token is None
    assert cfg.alerts.mqtt.enabled is False and cfg.alerts.webhook.enabled is False


def test_stream_names_cannot_leave_the_evidence_folder_or_the_topic(tmp_path):
    """A hostile name on the command line is not taken as a name; in the config it is refused."""
    from edge_app.__main__ import source_spec
    from edge_app.errors import ConfigError

    spec = source_spec("../../etc=clip.mp4", 0, False)
    assert spec.name == "stream0"  # not a name: the whole text is the source (which then does not exist)
    for name in ("../x", "a/b", "vigil/#", "+"):
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"sources:\n  - name: {json.dumps(name)}\n    uri: x.mp4\n")
        with pytest.raises(ConfigError, match="letters, digits"):
            load_config(cfg)


@pytest.mark.skipif(MOSQUITTO is None, reason="needs mosquitto")
def test_mqtt_settings_do_not_print_the_password():
    from edge_app.alerts.mqtt import MqttSettings

    settings = MqttSettings(password=MQTT_SECRET)
    assert MQTT_SECRET not in repr(settings) and MQTT_SECRET not in str(settings)
