"""Helpers of the conversion tests, shared by their tiers."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
