"""Helpers of the person finder footage tests, shared by their tiers."""

from __future__ import annotations

from support import REPO

CCTV = REPO / "configs" / "cctv.yaml"
