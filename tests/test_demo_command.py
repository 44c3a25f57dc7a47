"""`kepu demo` as an operator runs it on a default install: torch and sentence-transformers absent, output
to a pipe, a fresh HOME and TMPDIR. The first build prints a line per stage, no printed line is hard-wrapped,
the server's log records are one line each, /docs answers, and every file it writes is under the var dir."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.test_api_support import ROOT, free_port

WITHOUT = ROOT / "tests" / "without_modules.py"
NOT_IN_DEFAULT_INSTALL = "torch,sentence_transformers,transformers,matplotlib"
STAGES = ("ingesting", "tagging", "embedding", "simulating", "training")
STAGE_LINE = re.compile(r"^\[\s*\d+\.\d s\] (\w+)")
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR|CRITICAL|DEBUG):")
BUILD_DEADLINE_S = 600  # the first build takes ~20 s alone; a shared CI machine may be much slower


def files_under(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


@contextmanager
def running_demo(tmp_path: Path, var_dir: Path, port: int) -> Iterator[tuple[subprocess.Popen, Path, Path]]:
    """`kepu demo` in a subprocess with stdout and stderr going to files; SIGINT (Ctrl+C) on exit."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KEPU_") and k != "COLUMNS"},
        "PYTHONPATH": str(ROOT),  # this checkout's packages, whatever the venv's editable install points at
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    command = [sys.executable, str(WITHOUT), NOT_IN_DEFAULT_INSTALL, "-m", "api.cli", "demo"]
    command += ["--port", str(port), "--var-dir", str(var_dir)]
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with stdout.open("w") as out, stderr.open("w") as err:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=err)
        try:
            yield process, stdout, stderr
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_docs(process: subprocess.Popen, base: str, stderr: Path) -> httpx.Response:
    """Poll until the demo serves /docs (it builds first), failing early when the process exits."""
    deadline = time.monotonic() + BUILD_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"kepu demo exited with {process.returncode}:\n{stderr.read_text()}")
        try:
            return httpx.get(f"{base}/docs", timeout=2.0)
        except httpx.TransportError:
            time.sleep(0.5)
    raise AssertionError(f"kepu demo did not serve /docs within {BUILD_DEADLINE_S} s")


@pytest.mark.slow
def test_first_demo_run_without_torch_reports_progress_and_keeps_files_in_var(tmp_path: Path) -> None:
    var_dir = tmp_path / "a-var-folder-with-a-long-name-so-the-key-line-passes-eighty-columns" / "var"
    port = free_port()
    with running_demo(tmp_path, var_dir, port) as (process, stdout, stderr):
        docs = wait_for_docs(process, f"http://127.0.0.1:{port}", stderr)
        assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
        # one request, so the access log has a record to check
        assert httpx.get(f"http://127.0.0.1:{port}/v1/audiences", timeout=5.0).status_code == 200
    output = stdout.read_text(encoding="utf-8").splitlines()
    # stdout: what kepu printed, up to its last banner line, then uvicorn's access log; stderr: the server log
    banner_end = next(i for i, line in enumerate(output) if "stop with Ctrl+C" in line)
    printed, access_log = output[: banner_end + 1], output[banner_end + 1 :]
    server_log = [line for line in stderr.read_text(encoding="utf-8").splitlines() if line.strip()]

    stages = [match.group(1) for line in printed if (match := STAGE_LINE.match(line))]
    assert tuple(stages) == STAGES, printed
    key_line = next(line for line in printed if line.startswith("  admin API key "))
    assert len(key_line) > 80 and key_line.endswith(f"stored in {var_dir / 'demo_api_keys.json'})"), printed
    ready = next(line for line in printed if line.startswith("demo ready in "))
    assert "ingest, tag, embed, simulate, train" in ready, printed

    assert all(LOG_RECORD.match(line) for line in server_log + access_log), server_log + access_log
    assert any("Uvicorn running on" in line for line in server_log), server_log
    assert any('"GET /v1/audiences HTTP/1.1" 200' in line for line in access_log), access_log

    assert (var_dir / "cache" / "jieba.cache").is_file()  # not in the system temp folder
    assert files_under(tmp_path / "home") == set(), "kepu demo wrote into HOME"
    assert files_under(tmp_path / "tmp") == set(), "kepu demo left files in TMPDIR"
    outside = files_under(tmp_path) - {"stdout.txt", "stderr.txt"}
    assert all(path.startswith(str(var_dir.relative_to(tmp_path))) for path in outside), sorted(outside)
