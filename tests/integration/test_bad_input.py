"""Vigil's catalogue of user mistakes (tests/helpers/bad_input.py), each run in process: one clear line on stderr
naming the file, key or source, exit status 2, and no traceback. A few also go through a real process
(tests/system/test_bad_input.py)."""

from __future__ import annotations

import pytest

from helpers.bad_input import CASES, HELD
from support import assert_clean_error, run_in_process


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clear_line_in_process(name, tmp_path, manifest):
    argv, needles = CASES[name](tmp_path)
    try:
        proc = run_in_process(*argv)
    finally:
        while HELD:
            HELD.pop().close()
    assert_clean_error(proc, *needles)
    assert not (tmp_path / "pwned").exists()  # the config never runs code
