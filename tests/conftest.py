"""Shared fixtures: the evaluation data folder (skips with a reason when it is absent locally; fails
under CI=true, where the dataset guards must run)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


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
