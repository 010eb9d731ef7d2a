"""The box's database: one SQLite file (WAL) that holds the alert history, the operators' actions, the outboxes of
the networked sinks, and the console's accounts and sessions.

Why SQLite: it survives a killed process and a power cut (write-ahead log with ``synchronous=FULL``: a transaction
that returned is on disk), one file is one thing to back up, and an event can join the history and a sink's outbox
in one transaction.

Faults never stop the monitor:
- a file that is not a database or is damaged at start is moved aside (``vigil.db.corrupt-<stamp>``, with its
  ``-wal`` and ``-shm``), a new one is made, and one warning says where the old one went;
- a write that fails later (a full disk, a read-only remount) is counted and said once (io_faults.py): the caller
  keeps what it could not save in memory (alerts still reach the screen and the broker) and writes it again later.

Thread safety: one connection shared by every thread behind a lock (the writes are a few small rows per alert;
reads are indexed and paged), so the pipeline thread never waits on more than one short statement.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edge_app.errors import VigilError
from edge_app.io_faults import IO_FAULTS
from edge_app.schema import option

log = logging.getLogger(__name__)

# Each entry moves the schema one version up (PRAGMA user_version); never edit an entry once released.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY, stream TEXT NOT NULL, type TEXT NOT NULL, severity TEXT NOT NULL,
        track_id INTEGER NOT NULL, score REAL NOT NULL, raised_wall REAL NOT NULL, media_time REAL NOT NULL,
        state TEXT NOT NULL, acknowledged_by TEXT, acknowledged_wall REAL, cleared_by TEXT, cleared_wall REAL,
        snapshot TEXT, clip TEXT, instance TEXT NOT NULL DEFAULT '');
    CREATE INDEX alerts_raised ON alerts (raised_wall);
    CREATE INDEX alerts_stream ON alerts (stream, raised_wall);
    CREATE INDEX alerts_open ON alerts (state) WHERE state != 'cleared';
    CREATE TABLE events (
        id INTEGER PRIMARY KEY, wall REAL NOT NULL, stream TEXT NOT NULL, type TEXT NOT NULL, state TEXT NOT NULL,
        alert_id TEXT, record TEXT NOT NULL);
    CREATE INDEX events_wall ON events (wall);
    CREATE INDEX events_alert ON events (alert_id) WHERE alert_id IS NOT NULL;
    CREATE TABLE outbox (
        sink TEXT NOT NULL, seq INTEGER NOT NULL, created REAL NOT NULL, record TEXT NOT NULL,
        PRIMARY KEY (sink, seq)) WITHOUT ROWID;
    CREATE TABLE users (
        name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL, created REAL NOT NULL);
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
        created REAL NOT NULL, expires REAL NOT NULL);
    """,
    """
    CREATE TABLE uploads (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, bytes INTEGER NOT NULL, created REAL NOT NULL,
        user TEXT NOT NULL, state TEXT NOT NULL, input TEXT NOT NULL, exercise TEXT NOT NULL DEFAULT 'off',
        error TEXT, frames INTEGER, seconds REAL, events TEXT, events_count INTEGER, output TEXT);
    CREATE INDEX uploads_created ON uploads (created);
    CREATE INDEX events_type ON events (type, id);
    """,
)


@dataclass(frozen=True)
class StorageSettings:
    """The ``storage`` config section: where the box's database lives and how much history it keeps."""

    path: Path = option(Path("data/vigil.db"), "the SQLite database: alert history, operator actions, outboxes, "
                                               "console accounts (relative: from the Vigil home)")
    max_days: float = option(90.0, "alerts and events older than this are removed (undelivered outbox records are "
                                   "kept)")
    max_mb: float = option(500.0, "the database is kept under this size: the oldest cleared alerts and their events "
                                  "are removed first")

    def validate(self) -> None:
        if self.max_days <= 0 or self.max_mb <= 0:
            raise ValueError("max_days and max_mb must be > 0")


class Database:
    """The SQLite database at ``path`` (created with its folder when missing), schema migrated to the newest.

    Raises :class:`VigilError` (one line naming the file) when the file cannot be created or opened at all (a
    read-only folder, no permission); a damaged file is moved aside instead (see the module docstring)."""

    FAULT = "history"  # the output's name in io_faults, /metrics and /health

    def __init__(self, path: Path, max_days: float = 90.0, max_mb: float = 500.0):
        self.path = Path(path)
        self.max_days, self.max_mb = max_days, max_mb
        self._lock = threading.RLock()
        self.moved_aside: Path | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VigilError(f"storage.path {self.path}: cannot create its folder ({exc.strerror})") from None
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not self._damaged(exc):
                raise VigilError(f"storage.path {self.path}: cannot open ({exc})") from None
            self.moved_aside = self._move_aside()
            log.warning("storage %s is damaged (%s): moved aside to %s, a new database is made; the alert history "
                        "starts empty", self.path, exc, self.moved_aside.name)
            try:
                self._conn = self._open()
            except sqlite3.DatabaseError as again:
                raise VigilError(f"storage.path {self.path}: cannot create a new database ({again})") from None

    @staticmethod
    def _damaged(exc: sqlite3.Error) -> bool:
        text = str(exc).lower()
        return any(k in text for k in ("malformed", "not a database", "corrupt", "file is encrypted"))

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5.0)
        try:
            with contextlib.suppress(OSError):  # password hashes inside: owner only (its -wal and -shm follow suit)
                os.chmod(self.path, 0o600)
            conn.row_factory = sqlite3.Row
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                # a new file: free pages can be given back without rewriting it (incremental_vacuum); set before
                # the first table and before WAL, where it can no longer change
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # a committed alert survives a power cut, not only a crash
            conn.execute("PRAGMA foreign_keys=ON")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed ({check})")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise VigilError(f"storage.path {self.path}: made by a newer Vigil (schema {version}, this one knows "
                                 f"{len(MIGRATIONS)}); use a newer Vigil or another storage.path")
            for number in range(version, len(MIGRATIONS)):
                conn.executescript(f"BEGIN; {MIGRATIONS[number]}; PRAGMA user_version={number + 1}; COMMIT;")
        except BaseException:
            conn.close()
            raise
        return conn

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm", "-journal"):
            part = Path(f"{self.path}{suffix}")
            if part.exists():
                try:
                    part.replace(Path(f"{aside}{suffix}"))
                except OSError as exc:
                    raise VigilError(f"storage.path {self.path}: damaged and cannot be moved aside "
                                     f"({exc.strerror})") from None
        return aside

    # --- statements ------------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``with db.transaction() as conn:`` statements committed together, or rolled back together when one
        raises (the exception goes on to the caller: see :meth:`write` for the fault-tolerant form)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def write(self, statements: list[tuple[str, tuple]], consequence: str, output: str = FAULT) -> bool:
        """Run ``statements`` (SQL, parameters) in one transaction; True when committed. A failure (a full disk, a
        read-only file) is counted against ``output`` and said once with its ``consequence``, and returns False; it
        never raises."""
        try:
            with self.transaction() as conn:
                for sql, params in statements:
                    conn.execute(sql, params)
        except sqlite3.Error as exc:
            IO_FAULTS.failed(output, self.path, OSError(0, str(exc)), consequence)
            return False
        IO_FAULTS.ok(output)
        return True

    def insert(self, sql: str, params: tuple, consequence: str) -> int | None:
        """One INSERT in its own transaction; the new row's id, or None when the write failed (counted, said once)."""
        try:
            with self.transaction() as conn:
                rowid = conn.execute(sql, params).lastrowid
        except sqlite3.Error as exc:
            IO_FAULTS.failed(self.FAULT, self.path, OSError(0, str(exc)), consequence)
            return None
        IO_FAULTS.ok(self.FAULT)
        return rowid

    def read(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        """Rows of a query (an empty list, with a warning, when the file cannot be read)."""
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                log.warning("storage %s: cannot read (%s)", self.path, exc)
                return []

    # --- bounds ----------------------------------------------------------------------------------------------------
    def size_mb(self) -> float:
        """The space the database's rows take (its pages in use, free pages not counted), MiB."""
        rows = self.read("SELECT (SELECT page_count FROM pragma_page_count) - (SELECT freelist_count FROM "
                         "pragma_freelist_count) AS used, (SELECT page_size FROM pragma_page_size) AS size")
        return rows[0]["used"] * rows[0]["size"] / 2**20 if rows else 0.0

    def prune(self, now: float | None = None) -> int:
        """Remove alerts and events older than ``max_days``, then, while the file is over ``max_mb``, the oldest
        cleared alerts and their events (undelivered outbox records are never removed); returns the alerts
        removed. Space is given back to the file system with an incremental vacuum."""
        now = time.time() if now is None else now
        cutoff = now - self.max_days * 86400
        removed = 0
        ok = self.write([("DELETE FROM events WHERE wall < ?", (cutoff,)),
                         ("DELETE FROM alerts WHERE raised_wall < ? AND state = 'cleared'", (cutoff,)),
                         ("DELETE FROM sessions WHERE expires < ?", (now,))], "old history is not removed")
        if not ok:
            return 0
        while self.size_mb() > self.max_mb:
            cleared = self.read("SELECT COUNT(*) AS n FROM alerts WHERE state = 'cleared'")
            step = max(20, (cleared[0]["n"] if cleared else 0) // 20)  # a twentieth at a time: no more than needed
            oldest = self.read("SELECT id, raised_wall FROM alerts WHERE state = 'cleared' ORDER BY raised_wall "
                               "LIMIT ?", (step,))
            if not oldest:
                break
            ids = [r["id"] for r in oldest]
            marks = ",".join("?" * len(ids))
            until = oldest[-1]["raised_wall"]
            if not self.write([(f"DELETE FROM alerts WHERE id IN ({marks})", tuple(ids)),
                               ("DELETE FROM events WHERE wall <= ? AND (alert_id IS NULL OR alert_id NOT IN "
                                "(SELECT id FROM alerts))", (until,))], "old history is not removed"):
                break
            removed += len(ids)
        self.compact()
        return removed

    def compact(self) -> None:
        """Give free pages back to the file system (incremental vacuum, then a checkpoint that truncates the log);
        cheap, unlike VACUUM, which rewrites the whole file. A failure is only logged."""
        with self._lock:
            try:
                self._conn.executescript("PRAGMA incremental_vacuum;")  # run to the end (execute() stops early)
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("storage %s: cannot compact (%s)", self.path, exc)

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
