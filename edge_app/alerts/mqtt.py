"""MQTT sink (MQTT 5): every event to ``<prefix>/<stream>/events`` (QoS 1, in order, through the on-disk spool), each
stream's status retained at ``<prefix>/<stream>/status``, and this box's availability retained at
``<prefix>/<client_id>/availability`` with a last will of ``offline``.

A stream's status is trusted only while it is fresh: each status message carries a message expiry of
``status_expiry_s`` and is re-sent well within it, so after a crash (kill -9, power cut) the broker stops handing
the last ``online`` to new subscribers once it expires; the availability topic goes ``offline`` at once (the will).
Consumers should read a stream's status together with its box's availability.

The default client id is unique per machine (host name and a hash of the machine's id and MAC), so boxes cloned
from one image never take each other's session; if another client does connect with the same id, the broker's
"session taken over" is named in the log.

Delivery is at least once: a record leaves the spool only when the broker has acknowledged it (PUBACK). While the
broker is unreachable, events wait on disk and go out in order when it returns; a restart of Vigil resumes them.
Credentials never appear in logs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from edge_app.alerts.outbox import OutboxSink
from edge_app.alerts.spool import Spool
from edge_app.schema import option

log = logging.getLogger(__name__)
SESSION_TAKEN_OVER = 142  # MQTT 5 reason code of the DISCONNECT a broker sends when another client takes the id
SHORT_SESSION_S = 10.0  # a connection dropped sooner than this after it was made counts as taken over (3 in a row)


def default_client_id() -> str:
    """``vigil-<hostname>-<8 hex>``: the hash of this machine's /etc/machine-id and MAC address, so boxes cloned from
    one image (same host name, often the same machine id) still differ, and one box keeps its id across restarts."""
    try:
        machine = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine = ""
    digest = hashlib.sha1(f"{machine}/{uuid.getnode():012x}".encode()).hexdigest()[:8]
    return f"vigil-{socket.gethostname()}-{digest}"


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
    client_id: str = option(default_client_id(), "MQTT client id, unique per box (default: host name and a hash of "
                                                 "the machine); also names this box's availability topic")
    status_expiry_s: float = option(30.0, "a stream's retained status expires this long after it was last sent "
                                          "(re-sent every third of it while Vigil runs)")
    spool_dir: Path = option(Path(".cache/vigil/spool/mqtt"), "on-disk outbox for events not yet delivered")

    def validate(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be 1-65535, got {self.port}")
        if "/" in self.client_id or "#" in self.topic_prefix or "+" in self.topic_prefix:
            raise ValueError("client_id must not hold '/', topic_prefix must not hold '#' or '+'")
        if self.status_expiry_s < 3:
            raise ValueError("status_expiry_s must be >= 3")


class MqttSink(OutboxSink):
    """Events to ``<prefix>/<stream>/events`` (QoS 1, through the shared outbox worker, alerts/outbox.py) and each
    stream's status, retained with an expiry, to ``<prefix>/<stream>/status``; the box's availability (a last will)
    to ``<prefix>/<client_id>/availability``. Connects at ``start()``."""

    name = "MQTT"

    def __init__(self, settings: MqttSettings, spool: Spool | None = None):
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        # a failed publish means the connection went: ready() waits for the reconnect, so retries stay quick
        super().__init__(spool or Spool(settings.spool_dir, "mqtt"), backoff_max_s=2.0)
        self.s = settings
        self.connected = threading.Event()
        self.availability = f"{settings.topic_prefix}/{settings.client_id}/availability"
        self._status_props = Properties(PacketTypes.PUBLISH)
        self._status_props.MessageExpiryInterval = int(settings.status_expiry_s)
        self._last_status: dict[str, str] = {}  # stream -> the payload last sent, re-sent before it expires
        self._status_sent = 0.0
        self._taken_over = 0
        self._short_sessions = 0  # connections in a row the broker dropped within SHORT_SESSION_S
        self._connected_at = 0.0
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=settings.client_id,
                             protocol=mqtt.MQTTv5)
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

    def start(self) -> MqttSink:
        """Connect (in the background: a broker that is down is retried) and start delivering."""
        if self._worker is None:
            self.client.connect_async(self.s.host, self.s.port, keepalive=10)
            self.client.loop_start()
        super().start()
        return self

    # paho callbacks (its network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT %s refused the connection: %s", self.where, reason_code)
            return
        client.publish(self.availability, "online", qos=1, retain=True)
        self._connected_at = time.monotonic()
        self.connected.set()
        for stream in list(self._last_status):  # it may have expired while the broker was away
            self._send_status(stream)
        log.info("MQTT connected to %s (%d events waiting)", self.where, len(self.spool.pending()))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        lasted = time.monotonic() - self._connected_at
        if self.connected.is_set() and not self._stopping.is_set():
            # a broker that hands this client id to another client either says so (MQTT 5 reason 142) or, as
            # Mosquitto 2.0 does, just closes the old connection: seconds after each connect, again and again
            short = lasted < SHORT_SESSION_S
            self._short_sessions = self._short_sessions + 1 if short else 0
            if getattr(reason_code, "value", None) == SESSION_TAKEN_OVER or self._short_sessions >= 3:
                self._taken_over += 1
                if self._taken_over == 1 or self._taken_over % 20 == 0:
                    log.error("MQTT %s: the broker keeps dropping this connection seconds after it is made (%s); "
                              "another client connected with this box's client id %r and took over its session: "
                              "give each box its own alerts.mqtt.client_id (boxes cloned from one image with the "
                              "id set in their config share it)", self.where, reason_code, self.s.client_id)
                client.reconnect_delay_set(min_delay=5, max_delay=60)  # do not fight over it every second
            else:
                log.warning("MQTT %s: disconnected (%s); events wait in %s", self.where, reason_code,
                            self.spool.folder)
        self.connected.clear()

    def topic(self, stream: str, kind: str) -> str:
        return f"{self.s.topic_prefix}/{stream}/{kind}"

    def status(self, stream: str, status: dict) -> None:
        """A stream's status, retained with a message expiry (best effort: only the latest status matters)."""
        self._last_status[stream] = json.dumps(status)
        self._send_status(stream)

    def _send_status(self, stream: str) -> None:
        if self.connected.is_set():
            self.client.publish(self.topic(stream, "status"), self._last_status[stream], qos=1, retain=True,
                                properties=self._status_props)

    def tick(self) -> None:
        """Re-send each stream's status before it expires (a running box's status never lapses)."""
        if time.monotonic() - self._status_sent >= self.s.status_expiry_s / 3:
            self._status_sent = time.monotonic()
            for stream in list(self._last_status):
                self._send_status(stream)

    def ready(self, timeout: float) -> bool:
        return self.connected.wait(timeout) if timeout > 0 else self.connected.is_set()

    def deliver(self, record: dict) -> str | None:
        info = self.client.publish(self.topic(record.get("stream", "unknown"), "events"), json.dumps(record), qos=1)
        try:
            info.wait_for_publish(timeout=5.0)
        except (RuntimeError, ValueError) as exc:
            return str(exc)
        return None if info.is_published() else "not acknowledged by the broker"

    def failed(self, record: dict, why: str, backoff: float) -> None:
        # the disconnect itself was logged; the record is sent again, in order, after reconnecting
        log.debug("MQTT %s: %s %s: %s", self.where, record.get("type"), record.get("state"), why)

    def close(self, flush_timeout: float = 5.0) -> None:
        super().close(flush_timeout)
        if self.connected.is_set():
            self.client.publish(self.availability, "offline", qos=1, retain=True).wait_for_publish(2.0)
        self.client.disconnect()
        self.client.loop_stop()
