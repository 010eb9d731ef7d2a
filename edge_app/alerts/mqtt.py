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

Home Assistant (``home_assistant: true``): after each connect the sink announces, through MQTT discovery, one binary
sensor per stream and alert type (``<discovery_prefix>/binary_sensor/<node>/<stream>_<type>/config``, retained),
each reading a retained ``<prefix>/<stream>/<type>/state`` (``ON``/``OFF``, QoS 1) and this box's availability
topic. A sensor is ON while an alert of its type on its stream is open: raised (acknowledged or not) and not yet
cleared (:class:`OpenAlerts`). A stream's sensors are announced when the sink first sees it (a status or an event).

Across a restart the open alerts are kept (``home_assistant.json`` in ``spool_dir``), and at each start every known
sensor is published again: OFF, except the sensors of alerts still open when Vigil stopped, which stay ON. A person
who fell before a restart may still be on the floor, and the new run cannot see that fall (a fall is detected from
the descent), so turning the sensor OFF would be a false all-clear. Such a held-over alert goes OFF when a cleared
event names it (an operator clears it), or when someone publishes ``OFF`` to its state topic (Home Assistant's
``mqtt.publish``, ``mosquitto_pub``) after checking; that releases only alerts of earlier runs, never this run's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from edge_app import __version__
from edge_app.alerts.board import SEVERITY, severity
from edge_app.alerts.outbox import OutboxSink
from edge_app.alerts.spool import Spool
from edge_app.io_faults import IO_FAULTS
from edge_app.records import EventState
from edge_app.schema import option

log = logging.getLogger(__name__)
SESSION_TAKEN_OVER = 142  # MQTT 5 reason code of the DISCONNECT a broker sends when another client takes the id
SHORT_SESSION_S = 10.0  # a connection dropped sooner than this after it was made counts as taken over (3 in a row)
ONLINE, OFFLINE = "online", "offline"  # the payloads of this box's availability topic (and its last will)
HA_TYPES = tuple(SEVERITY)  # the alert types that get a Home Assistant binary sensor per stream
HA_ON, HA_OFF = "ON", "OFF"
HA_STATE_FILE = "home_assistant.json"  # in spool_dir: the alerts open per sensor, kept across restarts


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
    spool_dir: Path = option(Path(".cache/vigil/spool/mqtt"),
                             "the sink's folder (an earlier version's outbox here is moved into storage.path, where "
                             "undelivered events now wait)")
    home_assistant: bool = option(False, "announce a binary sensor per stream and alert type to Home Assistant (MQTT "
                                         "discovery), ON while such an alert is open")
    discovery_prefix: str = option("homeassistant", "Home Assistant's MQTT discovery prefix")

    def validate(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be 1-65535, got {self.port}")
        if "/" in self.client_id or "#" in self.topic_prefix or "+" in self.topic_prefix:
            raise ValueError("client_id must not hold '/', topic_prefix must not hold '#' or '+'")
        if self.status_expiry_s < 3:
            raise ValueError("status_expiry_s must be >= 3")
        prefix = self.discovery_prefix
        if not prefix or prefix.startswith("/") or prefix.endswith("/") or "#" in prefix or "+" in prefix:
            raise ValueError(f"discovery_prefix must be a topic without '#', '+' or a leading or trailing '/', "
                             f"got {prefix!r:.60}")


def ha_safe(text: str) -> str:
    """``text`` as a Home Assistant discovery id (letters, digits, ``_`` and ``-``); when anything had to be replaced
    a short hash of the original is added, so two names never share an id (``走廊`` and ``大厅``)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", text)
    return safe if safe == text and safe else f"{safe}_{hashlib.sha1(text.encode()).hexdigest()[:6]}"


def ha_state_topic(topic_prefix: str, stream: str, alert_type: str) -> str:
    """The retained topic of one sensor's state (``ON``/``OFF``): ``<prefix>/<stream>/<type>/state``."""
    return f"{topic_prefix}/{stream}/{alert_type}/state"


def ha_discovery(discovery_prefix: str, client_id: str, stream: str, alert_type: str, state_topic: str,
                 availability_topic: str) -> tuple[str, dict]:
    """The Home Assistant MQTT discovery message of one binary sensor (box ``client_id``, ``stream``,
    ``alert_type``): its config topic and its payload. A critical alert type (a fall) is a ``safety`` sensor, a
    warning (fatigue) a ``problem``; the sensor is unavailable while the box's availability says ``offline``."""
    node = ha_safe(client_id)
    object_id = ha_safe(f"{stream}_{alert_type}")
    payload = {
        "name": f"{stream} {alert_type.replace('_', ' ')}",
        "unique_id": f"{node}_{object_id}",
        "device_class": "safety" if severity(alert_type) == "critical" else "problem",
        "state_topic": state_topic,
        "payload_on": HA_ON,
        "payload_off": HA_OFF,
        "availability_topic": availability_topic,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "qos": 1,
        "device": {"identifiers": [node], "name": f"Vigil {client_id}", "manufacturer": "Vigil",
                   "model": "edge safety monitor", "sw_version": __version__},
        "origin": {"name": "Vigil", "sw_version": __version__},
    }
    return f"{discovery_prefix}/binary_sensor/{node}/{object_id}/config", payload


class OpenAlerts:
    """The alerts still open per stream and alert type, decided from event records alone (no sockets): what a Home
    Assistant binary sensor shows, ON while its set is not empty.

    A ``raised`` record opens its ``details.alert_id``; ``acknowledged`` changes nothing (an acknowledged alert is
    still open); ``cleared`` closes the alert it names and, as the alert board does when the analyzer clears a fall
    (no ``details.by``), every other alert of this run of that track in the family (``fall`` also closes
    ``fall_long_lie``, which is never cleared on its own). Alerts restored from an earlier run (``held``) close only
    when a record names them, or by :meth:`release_held`. ``streams``: every stream seen, in order."""

    def __init__(self):
        self.streams: list[str] = []
        self._open: dict[tuple[str, str], dict[str, dict]] = {}  # (stream, type) -> alert id -> {track, held}

    def add_stream(self, stream: str) -> bool:
        """Note ``stream``; True when it is new."""
        if stream in self.streams:
            return False
        self.streams.append(stream)
        return True

    def is_on(self, stream: str, alert_type: str) -> bool:
        return bool(self._open.get((stream, alert_type)))

    def state(self, stream: str, alert_type: str) -> str:
        """``ON`` or ``OFF``."""
        return HA_ON if self.is_on(stream, alert_type) else HA_OFF

    def held(self, stream: str, alert_type: str) -> list[str]:
        """The ids of this sensor's alerts kept from an earlier run."""
        return [i for i, a in self._open.get((stream, alert_type), {}).items() if a["held"]]

    def observe(self, record: dict) -> list[tuple[str, str]]:
        """Take one event record; returns the (stream, type) sensors it turned ON or OFF."""
        stream, alert_type, state = record.get("stream"), record.get("type"), record.get("state")
        if alert_type not in HA_TYPES or not isinstance(stream, str):
            return []
        details = record.get("details") if isinstance(record.get("details"), dict) else {}
        alert_id, track = details.get("alert_id"), record.get("track_id")
        before = {t: self.is_on(stream, t) for t in HA_TYPES}
        if state == EventState.RAISED:
            self._open.setdefault((stream, alert_type), {})[str(alert_id or f"track-{track}")] = \
                {"track": track, "held": False}
        elif state == EventState.CLEARED:
            if alert_id is not None:
                self._open.get((stream, alert_type), {}).pop(str(alert_id), None)
            if "by" not in details:  # the analyzer cleared it: the board closes the track's whole family
                family = (alert_type, "fall_long_lie") if alert_type == "fall" else (alert_type,)
                for t in family:
                    alerts = self._open.get((stream, t), {})
                    for gone in [i for i, a in alerts.items() if a["track"] == track and not a["held"]]:
                        del alerts[gone]
        else:
            return []
        return [(stream, t) for t in HA_TYPES if self.is_on(stream, t) != before[t]]

    def release_held(self, stream: str, alert_type: str) -> bool:
        """Someone confirmed the sensor is clear: forget its alerts from earlier runs (never this run's); True if
        any were held."""
        alerts = self._open.get((stream, alert_type), {})
        held = [i for i, a in alerts.items() if a["held"]]
        for alert_id in held:
            del alerts[alert_id]
        return bool(held)

    def to_json(self) -> dict:
        """What a restart needs: the streams seen and the alerts open."""
        return {"streams": list(self.streams),
                "open": [{"stream": s, "type": t, "alert_id": i, "track_id": a["track"]}
                         for (s, t), alerts in self._open.items() for i, a in alerts.items()]}

    @classmethod
    def from_json(cls, data: dict) -> OpenAlerts:
        """The state :meth:`to_json` gave, its open alerts now held over from an earlier run. Raises ValueError
        (KeyError, TypeError) on a damaged file."""
        alerts = cls()
        for stream in data["streams"]:
            alerts.add_stream(str(stream))
        for item in data["open"]:
            if item["type"] in HA_TYPES:
                alerts.add_stream(str(item["stream"]))
                alerts._open.setdefault((str(item["stream"]), item["type"]), {})[str(item["alert_id"])] = \
                    {"track": item["track_id"], "held": True}
        return alerts


class MqttSink(OutboxSink):
    """Events to ``<prefix>/<stream>/events`` (QoS 1, through the shared outbox worker, alerts/outbox.py) and each
    stream's status, retained with an expiry, to ``<prefix>/<stream>/status``; the box's availability (a last will)
    to ``<prefix>/<client_id>/availability``; with ``home_assistant``, discovery and one ON/OFF state per stream and
    alert type (see the module docstring). Connects at ``start()``."""

    name = "MQTT"

    def __init__(self, settings: MqttSettings, spool: Spool | None = None):
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        # a failed publish means the connection went: ready() waits for the reconnect, so retries stay quick
        super().__init__(spool or Spool.in_folder(settings.spool_dir, "mqtt"), backoff_max_s=2.0)
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
        self.ha_file = Path(settings.spool_dir) / HA_STATE_FILE
        self.alerts = self._load_open_alerts() if settings.home_assistant else None
        self._ha_lock = threading.RLock()  # one order for the pipeline's and the network thread's state messages
        self._ha_warned = False  # alerts held over from an earlier run are named once
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=settings.client_id,
                             protocol=mqtt.MQTTv5)
        client.will_set(self.availability, OFFLINE, qos=1, retain=True)
        if settings.username:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            client.tls_set(ca_certs=str(settings.ca_file) if settings.ca_file else None,
                           cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(min_delay=1, max_delay=8)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
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
        client.publish(self.availability, ONLINE, qos=1, retain=True)
        self._connected_at = time.monotonic()
        self.connected.set()
        for stream in list(self._last_status):  # it may have expired while the broker was away
            self._send_status(stream)
        if self.alerts is not None:
            self._ha_connected(client)
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
                            self.spool.where)
        self.connected.clear()

    def topic(self, stream: str, kind: str) -> str:
        return f"{self.s.topic_prefix}/{stream}/{kind}"

    def status(self, stream: str, status: dict) -> None:
        """A stream's status, retained with a message expiry (best effort: only the latest status matters)."""
        self._last_status[stream] = json.dumps(status)
        self._send_status(stream)
        if self.alerts is not None:
            with self._ha_lock:
                if self.alerts.add_stream(stream):
                    self._save_open_alerts()
                    self._ha_announce(stream)

    def publish(self, record: dict) -> None:
        """Queue one event record for delivery (the outbox), and with Home Assistant on, publish the states it
        changes at once (retained: only the latest matters)."""
        super().publish(record)
        stream = record.get("stream")
        if self.alerts is None or not isinstance(stream, str):
            return
        with self._ha_lock:
            new = self.alerts.add_stream(stream)
            changed = self.alerts.observe(record)
            if new or changed:
                self._save_open_alerts()
            if new:
                self._ha_announce(stream)
            for stream_, alert_type in changed:
                self._ha_state(stream_, alert_type)

    # --- Home Assistant ---------------------------------------------------------------------------------------------
    def _load_open_alerts(self) -> OpenAlerts:
        try:
            return OpenAlerts.from_json(json.loads(self.ha_file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return OpenAlerts()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("MQTT: %s is damaged (%s): Home Assistant's sensors start OFF, alerts open before the "
                        "restart are not known", self.ha_file, exc.__class__.__name__)
            return OpenAlerts()

    def _save_open_alerts(self) -> None:
        try:
            self.ha_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.ha_file.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self.alerts.to_json(), fh)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self.ha_file)
            IO_FAULTS.ok("home-assistant")
        except OSError as exc:
            IO_FAULTS.failed("home-assistant", self.ha_file, exc, "Home Assistant's sensors are still published, "
                             "but a restart would not know which alerts are open")

    def ha_state_topic(self, stream: str, alert_type: str) -> str:
        """The retained ON/OFF topic of the sensor of ``stream`` and ``alert_type``."""
        return ha_state_topic(self.s.topic_prefix, stream, alert_type)

    def _ha_connected(self, client) -> None:
        """After a connect: listen for a person's OFF (releases held-over alerts; our own messages and the retained
        ones are not sent back), then announce every known sensor with its state."""
        from paho.mqtt.subscribeoptions import SubscribeOptions

        client.subscribe(self.ha_state_topic("+", "+"),
                         options=SubscribeOptions(qos=1, noLocal=True,
                                                  retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND))
        with self._ha_lock:
            for stream in list(self.alerts.streams):
                self._ha_announce(stream)
            held = sum(len(self.alerts.held(s, t)) for s in self.alerts.streams for t in HA_TYPES)
        if held and not self._ha_warned:
            self._ha_warned = True
            log.warning("MQTT: %d alert(s) were open when Vigil last stopped: their Home Assistant sensors stay ON "
                        "until the alert is cleared or OFF is published to its state topic", held)

    def _ha_announce(self, stream: str) -> None:
        """Publish the discovery config and the state of every sensor of ``stream`` (when connected; a connect
        announces them all again)."""
        if not self.connected.is_set():
            return
        for alert_type in HA_TYPES:
            topic, payload = ha_discovery(self.s.discovery_prefix, self.s.client_id, stream, alert_type,
                                          self.ha_state_topic(stream, alert_type), self.availability)
            self.client.publish(topic, json.dumps(payload), qos=1, retain=True)
            self._ha_state(stream, alert_type)

    def _ha_state(self, stream: str, alert_type: str) -> None:
        if self.connected.is_set():
            self.client.publish(self.ha_state_topic(stream, alert_type), self.alerts.state(stream, alert_type),
                                qos=1, retain=True)

    def _on_message(self, client, userdata, msg) -> None:
        """A state topic written by someone else: an ``OFF`` releases the sensor's alerts held over from an earlier
        run; then the sensor's true state is published again (a person cannot switch off this run's alert)."""
        if self.alerts is None or msg.retain:
            return
        parts = msg.topic[len(self.s.topic_prefix) + 1:].split("/")
        if len(parts) != 3 or parts[1] not in HA_TYPES or parts[2] != "state":
            return
        stream, alert_type = parts[0], parts[1]
        with self._ha_lock:
            if stream not in self.alerts.streams:
                return
            if msg.payload.strip() == HA_OFF.encode() and self.alerts.release_held(stream, alert_type):
                log.warning("MQTT: %s %s set OFF from %s: the alert(s) open before the restart are released",
                            stream, alert_type, msg.topic)
                self._save_open_alerts()
            self._ha_state(stream, alert_type)

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
            self.client.publish(self.availability, OFFLINE, qos=1, retain=True).wait_for_publish(2.0)
        self.client.disconnect()
        self.client.loop_stop()
