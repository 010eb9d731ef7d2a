"""MQTT sink: every event to ``<prefix>/<stream>/events`` (QoS 1, in order, through the on-disk spool), each stream's
status retained at ``<prefix>/<stream>/status``, and this box's availability retained at
``<prefix>/<client_id>/availability`` with a last will of ``offline``.

Delivery is at least once: a record leaves the spool only when the broker has acknowledged it (PUBACK). While the
broker is unreachable, events wait on disk and go out in order when it returns; a restart of Vigil resumes them.
Credentials never appear in logs.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from edge_app.alerts.spool import Spool
from edge_app.schema import option

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MqttSettings:
    """The ``alerts.mqtt`` config section."""

    enabled: bool = option(False, "publish events and status to an MQTT broker")
    host: str = option("127.0.0.1", "broker host")
    port: int = option(1883, "broker port (8883 is the usual TLS port)")
    username: str | None = option(None, "user name, if the broker needs one")
    password: str | None = option(None, "password (never logged)", secret=True)
    tls: bool = option(False, "connect with TLS")
    ca_file: Path | None = option(None, "CA certificate for TLS (null = the system's)")
    topic_prefix: str = option("vigil", "topics are <prefix>/<stream>/events and <prefix>/<stream>/status")
    client_id: str = option(f"vigil-{socket.gethostname()}", "MQTT client id; also names this box's availability")
    spool_dir: Path = option(Path(".cache/vigil/spool/mqtt"), "on-disk outbox for events not yet delivered")

    def validate(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be 1-65535, got {self.port}")
        if "/" in self.client_id or "#" in self.topic_prefix or "+" in self.topic_prefix:
            raise ValueError("client_id must not hold '/', topic_prefix must not hold '#' or '+'")


class MqttSink:
    def __init__(self, settings: MqttSettings, spool: Spool | None = None):
        import paho.mqtt.client as mqtt

        self.s = settings
        self.spool = spool or Spool(settings.spool_dir, "mqtt")
        self.connected = threading.Event()
        self._stopping = threading.Event()
        self.availability = f"{settings.topic_prefix}/{settings.client_id}/availability"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=settings.client_id)
        client.will_set(self.availability, "offline", qos=1, retain=True)
        if settings.username:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(min_delay=1, max_delay=8)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self.client = client
        self.where = f"mqtt://{settings.host}:{settings.port}"  # no credentials
        client.connect_async(settings.host, settings.port, keepalive=10)
        client.loop_start()
        self._worker = threading.Thread(target=self._deliver, name="mqtt-outbox", daemon=True)
        self._worker.start()

    # paho callbacks (its network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT %s refused the connection: %s", self.where, reason_code)
            return
        client.publish(self.availability, "online", qos=1, retain=True)
        self.connected.set()
        log.info("MQTT connected to %s (%d events waiting)", self.where, len(self.spool.pending()))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected.is_set():
            log.warning("MQTT %s: disconnected (%s); events wait in %s", self.where, reason_code, self.spool.folder)
        self.connected.clear()

    def topic(self, stream: str, kind: str) -> str:
        return f"{self.s.topic_prefix}/{stream}/{kind}"

    def __call__(self, record: dict) -> None:
        """Queue one event record (durably) for delivery."""
        self.spool.put(record)

    def status(self, stream: str, status: dict) -> None:
        """A stream's status, retained (best effort: only the latest status matters)."""
        if self.connected.is_set():
            self.client.publish(self.topic(stream, "status"), json.dumps(status), qos=1, retain=True)

    def _deliver(self) -> None:
        while not self._stopping.is_set():
            if not self.spool.wait(0.5) or not self.connected.wait(0.5):
                continue
            for record in self.spool.pending():
                if self._stopping.is_set() or not self.connected.is_set():
                    break
                info = self.client.publish(self.topic(record.get("stream", "unknown"), "events"),
                                           json.dumps(record), qos=1)
                try:
                    info.wait_for_publish(timeout=5.0)
                except (RuntimeError, ValueError):
                    break
                if not info.is_published():
                    break  # not acknowledged: try again (in order) after reconnecting
                self.spool.mark_delivered(record["seq"])

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the outbox to empty; True if it did."""
        return self.spool.wait_empty(timeout)

    def close(self, flush_timeout: float = 5.0) -> None:
        if self.spool.pending() and self.connected.is_set():
            self.flush(flush_timeout)
        left = len(self.spool.pending())
        if left:
            log.warning("MQTT: %d event(s) not yet delivered stay in %s and go out at the next start", left,
                        self.spool.folder)
        self._stopping.set()
        self._worker.join(2.0)
        if self.connected.is_set():
            self.client.publish(self.availability, "offline", qos=1, retain=True).wait_for_publish(2.0)
        self.client.disconnect()
        self.client.loop_stop()
