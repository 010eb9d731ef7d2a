"""Console accounts: users with a role and a hashed password, login sessions, and a limit on failed logins.

- Passwords are hashed with scrypt (RFC 7914; Python's hashlib, OpenSSL's implementation) with a random 16-byte salt,
  n=2**14, r=8, p=1 (OWASP's minimum for scrypt), stored as ``scrypt$n$r$p$salt$hash`` (base64); checked in constant
  time, and an unknown name costs the same hash as a known one (no timing tells which names exist).
- A session is a random 256-bit token in an HttpOnly, SameSite=Strict cookie; the database keeps only its SHA-256,
  so a copied database opens no session. Sessions end at logout or after ``session_hours``.
- Roles rank ``viewer`` < ``operator`` < ``admin``: a viewer watches, an operator also acknowledges and clears
  alerts, an admin also edits zones and reloads the config.
- :class:`LoginLimiter`: after ``max_failures`` failed logins within ``window_s`` from one address, or for one name,
  further tries are refused (HTTP 429 with Retry-After) until the window passes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from edge_app.errors import VigilError
from edge_app.storage.db import Database


class Role(StrEnum):
    """What a console user may do; each role may do all that the ones before it may."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True)
class User:
    """Who a request comes from: ``name`` (written on acknowledgements), ``role``, and ``via`` (``session``,
    ``token`` for machine clients, ``local`` for the loopback console of a box without accounts)."""

    name: str
    role: Role
    via: str = "session"


NAME = re.compile(r"^[\w.@-]{1,40}$")
MIN_PASSWORD = 10
SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """The stored form of ``password`` (see the module docstring for the scheme)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, maxmem=64 * 2**20, **SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time compare; False for a malformed ``stored``)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        given = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                               dklen=len(expected), maxmem=64 * 2**20)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(given, expected)


_DUMMY = hash_password(secrets.token_hex(8))  # an unknown name is checked against this: same cost as a real one


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    """Users and sessions on the box's database. Raises :class:`VigilError` with a one-line reason for a bad name,
    role or password, or a missing user."""

    def __init__(self, db: Database, session_hours: float = 12.0):
        self.db, self.session_s = db, session_hours * 3600

    # --- users ---------------------------------------------------------------------------------------------------
    @staticmethod
    def check(name: str, password: str | None = None, role: str | None = None) -> None:
        if not NAME.match(name or ""):
            raise VigilError(f"user name {name!r}: use 1-40 letters, digits, and . @ - _")
        if role is not None and role not in {r.value for r in Role}:
            raise VigilError(f"role {role!r}: one of {', '.join(r.value for r in Role)}")
        if password is not None and len(password) < MIN_PASSWORD:
            raise VigilError(f"the password must have at least {MIN_PASSWORD} characters")

    def add(self, name: str, role: str, password: str) -> None:
        """Add a user, or replace the role and password of one that exists (their sessions end)."""
        self.check(name, password, role)
        ok = self.db.write([("INSERT INTO users (name, role, password, created) VALUES (?, ?, ?, ?) ON CONFLICT "
                             "(name) DO UPDATE SET role = excluded.role, password = excluded.password",
                             (name, role, hash_password(password), time.time())),
                            ("DELETE FROM sessions WHERE user = ?", (name,))], "the user is not saved")
        if not ok:
            raise VigilError(f"{self.db.path}: cannot save user {name} (see the warning above)")

    def remove(self, name: str) -> None:
        """Remove a user and end their sessions; VigilError when there is no such user."""
        if not self.db.read("SELECT 1 FROM users WHERE name = ?", (name,)):
            raise VigilError(f"no user {name!r}")
        self.db.write([("DELETE FROM sessions WHERE user = ?", (name,)), ("DELETE FROM users WHERE name = ?", (name,))],
                      "the user is not removed")

    def users(self) -> list[tuple[str, Role]]:
        """(name, role) of every user, by name."""
        return [(r["name"], Role(r["role"])) for r in self.db.read("SELECT name, role FROM users ORDER BY name")]

    def any(self) -> bool:
        """Whether any account exists (then the console asks every browser to log in)."""
        return bool(self.db.read("SELECT 1 FROM users LIMIT 1"))

    # --- logins and sessions -------------------------------------------------------------------------------------
    def authenticate(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else None (the same work either way)."""
        rows = self.db.read("SELECT role, password FROM users WHERE name = ?", (str(name)[:64],))
        stored = rows[0]["password"] if rows else _DUMMY
        ok = verify_password(str(password), stored)
        return User(name, Role(rows[0]["role"])) if ok and rows else None

    def start_session(self, user: User, now: float | None = None) -> str | None:
        """A new session's token for ``user`` (None when the database refused to keep it)."""
        now = time.time() if now is None else now
        token = secrets.token_urlsafe(32)
        ok = self.db.write([("INSERT INTO sessions (token_hash, user, created, expires) VALUES (?, ?, ?, ?)",
                             (_token_hash(token), user.name, now, now + self.session_s))], "a login is refused")
        return token if ok else None

    def session(self, token: str, now: float | None = None) -> User | None:
        """The user of a live session, or None (no such session, or expired: then it is removed)."""
        if not token or len(token) > 100:
            return None
        now = time.time() if now is None else now
        rows = self.db.read("SELECT s.created, s.expires, u.name, u.role FROM sessions s JOIN users u ON "
                            "u.name = s.user WHERE s.token_hash = ?", (_token_hash(token),))
        if not rows:
            return None
        if min(rows[0]["expires"], rows[0]["created"] + self.session_s) <= now:  # a shorter session_hours counts too
            self.end_session(token)
            return None
        return User(rows[0]["name"], Role(rows[0]["role"]))

    def end_session(self, token: str) -> None:
        self.db.write([("DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))], "a logout is not saved")


class LoginLimiter:
    """Failed logins per client address and per user name (see the module docstring). Thread-safe."""

    def __init__(self, max_failures: int = 5, window_s: float = 300.0):
        self.max_failures, self.window_s = max_failures, window_s
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, address: str, name: str, now: float | None = None) -> float:
        """Seconds until this address may try this name again (0: now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            waits = [times[0] + self.window_s - now for key in (f"ip:{address}", f"user:{name}")
                     if len(times := self._recent(key, now)) >= self.max_failures]
        return max(waits, default=0.0)

    def failed(self, address: str, name: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for key in (f"ip:{address}", f"user:{name}"):
                self._recent(key, now).append(now)
            if len(self._failures) > 10_000:  # a flood of names: forget the quiet ones
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]

    def succeeded(self, address: str, name: str) -> None:
        with self._lock:
            self._failures.pop(f"ip:{address}", None)
            self._failures.pop(f"user:{name}", None)
