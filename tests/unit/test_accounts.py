"""Console accounts (web/accounts.py): hashed passwords, roles, sessions that expire, failed logins limited."""

from __future__ import annotations

import pytest

from edge_app.errors import VigilError
from edge_app.storage.db import Database
from edge_app.web.accounts import Accounts, LoginLimiter, Role, hash_password, verify_password


def test_passwords_are_salted_scrypt_hashes_checked_exactly():
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$16384$8$1$") and "correct horse" not in stored
    assert stored != hash_password("correct horse")  # a salt of its own
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored) and not verify_password("", stored)
    assert not verify_password("x", "plain-text") and not verify_password("x", "scrypt$1$2$3$!!$!!")


def test_users_roles_and_sessions(tmp_path):
    accounts = Accounts(Database(tmp_path / "vigil.db"), session_hours=1.0)
    assert not accounts.any()
    accounts.add("alice", "operator", "alice-password")
    accounts.add("vic", "viewer", "viewer-password")
    assert accounts.any() and accounts.users() == [("alice", Role.OPERATOR), ("vic", Role.VIEWER)]
    assert accounts.authenticate("alice", "wrong-password") is None
    assert accounts.authenticate("nobody", "alice-password") is None
    alice = accounts.authenticate("alice", "alice-password")
    assert alice.name == "alice" and alice.role == Role.OPERATOR
    token = accounts.start_session(alice, now=1000.0)
    assert accounts.session(token, now=1000.0 + 3599).name == "alice"
    assert accounts.session(token, now=1000.0 + 3601) is None  # expired
    assert accounts.session(token, now=1000.0) is None  # and gone for good
    assert accounts.session("made-up", now=1000.0) is None
    # the database keeps a hash of the token, never the token
    assert not accounts.db.read("SELECT 1 FROM sessions WHERE token_hash = ?", (token,))


def test_changing_or_removing_a_user_ends_their_sessions(tmp_path):
    accounts = Accounts(Database(tmp_path / "vigil.db"))
    accounts.add("alice", "operator", "alice-password")
    token = accounts.start_session(accounts.authenticate("alice", "alice-password"))
    accounts.add("alice", "viewer", "new-password-1")
    assert accounts.session(token) is None
    assert accounts.authenticate("alice", "alice-password") is None
    token = accounts.start_session(accounts.authenticate("alice", "new-password-1"))
    accounts.remove("alice")
    assert accounts.session(token) is None and accounts.users() == []
    with pytest.raises(VigilError, match="no user 'alice'"):
        accounts.remove("alice")


@pytest.mark.parametrize("name, role, password, message", [
    ("a b", "operator", "long-enough-1", "user name 'a b'"),
    ("", "operator", "long-enough-1", "user name ''"),
    ("bob", "root", "long-enough-1", "role 'root'"),
    ("bob", "operator", "short", "at least 10 characters"),
])
def test_bad_accounts_are_refused_with_the_reason(tmp_path, name, role, password, message):
    with pytest.raises(VigilError, match=message):
        Accounts(Database(tmp_path / "vigil.db")).add(name, role, password)


def test_roles_rank():
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.OPERATOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR) and not Role.OPERATOR.allows(Role.ADMIN)


def test_failed_logins_are_limited_per_address_and_per_name():
    limiter = LoginLimiter(max_failures=3, window_s=60.0)
    for i in range(3):
        assert limiter.retry_after("10.0.0.1", "alice", now=100.0 + i) == 0
        limiter.failed("10.0.0.1", "alice", now=100.0 + i)
    assert limiter.retry_after("10.0.0.1", "bob", now=103.0) == pytest.approx(57.0)  # this address is blocked
    assert limiter.retry_after("10.0.0.9", "alice", now=103.0) == pytest.approx(57.0)  # and so is this name
    assert limiter.retry_after("10.0.0.9", "bob", now=103.0) == 0
    assert limiter.retry_after("10.0.0.1", "alice", now=160.5) == 0  # the window passed
