"""Shared fixtures: the evaluation data folder (skips with a reason when it is absent locally; fails
under CI=true, where the dataset guards must run), and a session cache folder so nothing a test run builds
(jieba's dictionary cache, torch's compile cache) lands in the clone or the system temp."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def cache_dir_in_pytest_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """KEPU_CACHE_DIR for this process and the servers tests start, unless the caller set one; torch's
    compile cache (created on import by the sentence-transformers tests) goes beside it."""
    with pytest.MonkeyPatch.context() as patch:
        if not os.environ.get("KEPU_CACHE_DIR"):
            patch.setenv("KEPU_CACHE_DIR", str(tmp_path_factory.mktemp("kepu-cache")))
        if not os.environ.get("TORCHINDUCTOR_CACHE_DIR"):
            patch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path_factory.mktemp("torchinductor")))
        yield Path(os.environ["KEPU_CACHE_DIR"])


def data_root() -> Path | None:
    """The folder holding `movielens-100k/` and `csl/` (KEPU_DATA_DIR), or None when not available."""
    raw = os.environ.get("KEPU_DATA_DIR")
    if not raw:
        return None
    path = Path(raw).expanduser()
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Data root for dataset tests (see `require_data_root`)."""
    return require_data_root()


def require_data_root() -> Path:
    """The data root; skips with a clear reason on machines without the data sets, and fails under
    CI=true (a CI run without the data would silently drop every quality guard)."""
    root = data_root()
    if root is None:
        message = "KEPU_DATA_DIR is unset or not a folder: dataset tests need ../shared/data (see README)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"dataset tests are required in CI but {message}")
        pytest.skip(message)
    return root
