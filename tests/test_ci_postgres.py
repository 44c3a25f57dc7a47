"""`.ci/with-postgres.sh` gives every run its own server and state file: a run started inside another run
(two runs by one user on one machine) gets a different server, and ending it leaves the other one running."""

from __future__ import annotations

import glob
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WITH_POSTGRES = ROOT / ".ci" / "with-postgres.sh"
POSTGRES = ROOT / ".ci" / "postgres.sh"

pytestmark = pytest.mark.postgres

if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError("PostgreSQL server binaries are missing: install Debian's postgresql for CI")
    pytest.skip("PostgreSQL server binaries not installed", allow_module_level=True)

NESTED_RUNS = f"""
echo "outer $KEPU_TEST_POSTGRES_URL $KEPU_PG_STATE_FILE"
bash {WITH_POSTGRES} bash -c 'echo "inner $KEPU_TEST_POSTGRES_URL $KEPU_PG_STATE_FILE"'
echo "after-inner $(bash {POSTGRES} status)"
"""


def test_two_runs_on_one_machine_get_separate_servers(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KEPU_TEST_POSTGRES_URL", "KEPU_PG_STATE_FILE")}
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run(
        ["bash", str(WITH_POSTGRES), "bash", "-c", NESTED_RUNS],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = {line.split(" ", 1)[0]: line.split(" ")[1:] for line in done.stdout.splitlines() if line.strip()}
    (outer_url, outer_state), (inner_url, inner_state) = lines["outer"], lines["inner"]
    assert outer_url.startswith("postgresql+psycopg2://") and inner_url.startswith("postgresql+psycopg2://")
    assert outer_url != inner_url and outer_state != inner_state
    assert Path(outer_state).parent == tmp_path and Path(inner_state).parent == tmp_path
    # the inner run stopped only its own server: the outer one still answered afterwards
    assert lines["after-inner"] == ["export", f"KEPU_TEST_POSTGRES_URL={outer_url}"]
    assert list(tmp_path.iterdir()) == [], "state files left behind"
