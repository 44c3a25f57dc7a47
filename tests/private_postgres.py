"""A PostgreSQL server owned by one test, which it can stop and start again (an outage), built with the
project's own .ci/postgres.sh (initdb + pg_ctl in a temp folder, its own state file) and pg_ctl.

Without the server binaries the test skips locally and FAILS under CI=true.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_api_support import ROOT

SCRIPT = ROOT / ".ci" / "postgres.sh"


def binaries_present() -> bool:
    return bool(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")) or shutil.which("pg_ctl") is not None


def require_binaries() -> None:
    if binaries_present():
        return
    message = "PostgreSQL server binaries (initdb, pg_ctl) not found: the store-outage test needs its own server"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


class PrivatePostgres:
    """start() -> URL; stop_server() / start_server() keep the data folder; destroy() removes it."""

    def __init__(self, folder: Path) -> None:
        self.state_file = folder / "postgres.state"
        self.env = {**os.environ, "KEPU_PG_STATE_FILE": str(self.state_file)}
        self.state: dict[str, str] = {}

    def start(self) -> str:
        out = subprocess.run(
            ["bash", str(SCRIPT), "start"], env=self.env, capture_output=True, text=True, check=True, timeout=120
        )
        url = out.stdout.strip().removeprefix("export KEPU_TEST_POSTGRES_URL=")
        for line in self.state_file.read_text().splitlines():
            name, _, value = line.partition("=")
            self.state[name] = shlex.split(value)[0]
        return url

    def _pg_ctl(self, *args: str) -> None:
        command = [f"{self.state['PGBIN_DIR']}/pg_ctl", "-D", f"{self.state['PGDATA_DIR']}/data", *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def stop_server(self) -> None:
        """Fast shutdown: every connection is cut, as in a crash of the database host."""
        self._pg_ctl("-m", "fast", "-w", "stop")

    def start_server(self) -> None:
        base, port = self.state["PGDATA_DIR"], self.state["PGPORT_NUM"]
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
        self._pg_ctl("-l", f"{base}/server.log", "-w", "-t", "60", "-o", options, "start")

    def destroy(self) -> None:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=self.env, capture_output=True, timeout=120)
