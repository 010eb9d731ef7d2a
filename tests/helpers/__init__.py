"""Helpers shared by tests of one subject across the tiers (unit, integration, system)."""
