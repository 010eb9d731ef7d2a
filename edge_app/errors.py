"""User-facing errors: one clear line naming the file, key or source; no traceback."""

from __future__ import annotations


class VigilError(Exception):
    """An error caused by what the user gave (a file, a config key, a source), reported as one line."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class ModelError(VigilError):
    """A model file is missing, corrupted or not the kind of model expected."""


class ConfigError(VigilError):
    """A configuration file or key is invalid."""


def reason(exc: BaseException, limit: int = 160) -> str:
    """The informative part of an exception message as one short line (OpenVINO prefixes C++ locations)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Exception from", "Check '", "[ GENERAL_ERROR ]"))]
    text = " ".join((useful or lines or [type(exc).__name__])[:2])
    return text if len(text) <= limit else text[: limit - 3] + "..."
