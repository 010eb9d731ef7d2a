"""Shared command-line behaviour: user errors as one line on stderr with a non-zero exit, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from edge_app.errors import VigilError
from edge_app.io_faults import check_writable as check_folder


def run_main(main: Callable[[], int], prog: str) -> int:
    try:
        return main() or 0
    except VigilError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def check_writable(flag: str, path: Path) -> None:
    """Fail at start, not after an hour's run, when an output file cannot be written (its folder refuses a file,
    as io_faults.check_writable tests it, or the file itself cannot be opened). Leaves no file behind."""
    try:
        check_folder(path.parent)
        existed = path.exists()
        with open(path, "a"):
            pass
        if not existed:
            path.unlink()
    except OSError as exc:
        raise VigilError(f"{flag} {path}: cannot write ({exc.strerror})") from None
