"""Shared command-line behaviour: user errors as one line on stderr with a non-zero exit, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from edge_app.errors import VigilError


def run_main(main: Callable[[], int], prog: str) -> int:
    try:
        return main() or 0
    except VigilError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
