"""Bad input, one case per row: each gives one clear line on stderr naming the file, key or source, a non-zero exit,
and no traceback (or, where the issue says so, a warning and a run that goes on). Together with the source, crop and
port cases of test_cli.py and test_web.py, and the config cases of test_config.py, this is Vigil's catalogue of
user mistakes."""

from __future__ import annotations

from helpers.bad_input import (
    CASES,
)


def test_there_are_at_least_25_cases():
    assert len(CASES) >= 25
