"""scripts/setup.sh (and so demo.sh and test.sh) when apt is busy: bubblewrap and chromium are
optional, so a held dpkg lock costs a bounded wait and a warning, never the setup."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import fcntl, os, sys, time
for path in ("/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as dpkg and apt take it
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@pytest.mark.needs_root
@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs apt-get (Debian)")
def test_apt_install_waits_a_bounded_time_for_a_held_dpkg_lock_then_goes_on() -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = subprocess.run(
            ["bash", "-c", "set -euo pipefail; source scripts/apt.sh; apt_install bubblewrap; echo went on"],
            capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, "ARENA_APT_WAIT": "2"},
        )  # fmt: skip
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("went on")
    assert "warning: could not install bubblewrap" in result.stderr and "lock" in result.stderr


def test_setup_installs_the_optional_packages_only_through_apt_install() -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "source scripts/apt.sh" in setup
    calls = [line for line in setup.splitlines() if "apt-get" in line and "command -v" not in line]
    assert calls == [], calls  # every install goes through the bounded, warning apt_install
    assert "bash scripts/setup.sh" in (ROOT / "scripts" / "demo.sh").read_text()
