"""A one-line progress bar on stderr for long benchmark work (the runtime does not depend on tqdm)."""

from __future__ import annotations

import sys
import time


class Progress:
    """``total`` steps; :meth:`step` advances and names what is being done. On a terminal the line is redrawn in
    place; in a log (CI) each step is a line of its own."""

    def __init__(self, total: int, desc: str, stream=None):
        self.total, self.desc, self.done = max(total, 1), desc, 0
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.tty = self.stream.isatty()

    def step(self, what: str = "", n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        self._draw(what)

    def note(self, what: str) -> None:
        """Say what is being done now, without advancing."""
        self._draw(what)

    def _draw(self, what: str) -> None:
        filled = int(20 * self.done / self.total)
        line = (f"{self.desc}: {self.done}/{self.total} |{'#' * filled}{'.' * (20 - filled)}| "
                f"{time.monotonic() - self.started:5.0f} s  {what}")
        if self.tty:
            self.stream.write("\r" + line[:160].ljust(160))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
