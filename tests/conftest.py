"""Shared fixtures: the evaluation data folder (skips with a reason when it is absent)."""

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
    """Data root for dataset tests; skips with a clear reason on machines without the data sets."""
    root = data_root()
    if root is None:
        pytest.skip("KEPU_DATA_DIR is unset or not a folder: dataset tests need ../shared/data (see README)")
    return root
