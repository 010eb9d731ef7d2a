"""Helpers of the credentials tests, shared by their tiers."""

from __future__ import annotations

PASSWORD = "p@ss/w:rd#1"
