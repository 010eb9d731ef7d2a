"""Deployment files checked for real: the systemd units (deploy/systemd) pass `systemd-analyze verify` without a
warning, restart on failure, reload with SIGHUP, stop with SIGTERM, log to journald, and run a command line Vigil's
own parser accepts."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys

import pytest

from support import REPO

UNITS = sorted((REPO / "deploy" / "systemd").glob("*.service"))
VIGIL = REPO / ".venv" / "bin" / "vigil"


def verify(unit_text: str, tmp_path, name: str) -> subprocess.CompletedProcess:
    """`systemd-analyze verify` on ``unit_text`` with the runtime's path pointed at this checkout's `vigil`."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd)")
    path = tmp_path / name
    path.write_text(unit_text.replace("/opt/vigil/venv/bin/vigil", str(VIGIL if VIGIL.exists() else sys.executable)))
    return subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_the_unit_verifies_without_a_warning_and_runs_a_valid_command(unit, tmp_path):
    proc = verify(unit.read_text(), tmp_path, unit.name)
    assert proc.returncode == 0 and not proc.stderr.strip() and not proc.stdout.strip(), proc.stderr + proc.stdout
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(unit.read_text())
    service = parser["Service"]
    assert service["Restart"] == "on-failure" and service["KillSignal"] == "SIGTERM"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"  # the runner reloads its config on SIGHUP
    assert service["StandardOutput"] == service["StandardError"] == "journal"
    assert "Environment=VIGIL_HOME=/var/lib/vigil" in unit.read_text()  # models, caches, evidence: the home
    from edge_app.__main__ import _parser

    argv = shlex.split(service["ExecStart"])
    assert argv[0] == "/opt/vigil/venv/bin/vigil"
    args = _parser().parse_args(argv[1:])
    assert args.command == "run" and args.config is not None and (args.headless or args.kiosk)


def test_a_unit_with_a_mistake_is_caught(tmp_path):
    """The check above can fail: a misspelt restart policy is a warning, an unknown command a fatal error."""
    text = UNITS[0].read_text()
    assert verify(text.replace("Restart=on-failure", "Restart=sometimes"), tmp_path, "a.service").stderr.strip()
    assert verify(text.replace("ExecStart=/opt/vigil/venv/bin/vigil", "ExecStart=vigil/x"), tmp_path,
                  "b.service").returncode != 0
