"""Helpers of the security tests, shared by their tiers."""

from __future__ import annotations

CAM_SECRET, MQTT_SECRET = "cam-Pa55word", "mqtt-Pa55word"
