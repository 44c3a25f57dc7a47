"""Loaders for the public evaluation data sets (MovieLens-100k), read in place from a data folder.

The data sets are never copied into the repository: callers pass a folder (`--data-dir`) or set
`KEPU_DATA_DIR`. Internal indices are 0-based (`user_idx`, `item_idx`); raw MovieLens ids are kept.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

MOVIELENS_FOLDER = "movielens-100k"
GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
AGE_BANDS: tuple[tuple[int, int, str], ...] = (
    (0, 17, "<18"),
    (18, 24, "18-24"),
    (25, 34, "25-34"),
    (35, 44, "35-44"),
    (45, 49, "45-49"),
    (50, 55, "50-55"),
    (56, 200, "56+"),
)  # the MovieLens-1M age groups, reused as segments for ml-100k


class DatasetNotFoundError(FileNotFoundError):
    """The data folder or one of its files is missing; the message says which path was tried."""


def resolve_movielens_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Find ml-100k: `data_dir` itself or `data_dir/movielens-100k` (data_dir defaults to KEPU_DATA_DIR)."""
    raw = data_dir if data_dir is not None else os.environ.get("KEPU_DATA_DIR")
    if raw is None or str(raw) == "":
        raise DatasetNotFoundError(
            "no data folder given: pass data_dir (--data-dir) or set KEPU_DATA_DIR to the folder holding "
            f"'{MOVIELENS_FOLDER}/'"
        )
    base = Path(raw).expanduser()
    for candidate in (base, base / MOVIELENS_FOLDER):
        if (candidate / "u.data").is_file():
            return candidate
    raise DatasetNotFoundError(f"MovieLens-100k not found: neither {base}/u.data nor {base / MOVIELENS_FOLDER}/u.data")


def age_band(age: int) -> str:
    """The MovieLens-1M age group label of an age in years."""
    for low, high, label in AGE_BANDS:
        if low <= age <= high:
            return label
    raise ValueError(f"age {age} outside every age band")


@dataclass(frozen=True)
class MovieLens100k:
    """Ratings, users and items of ml-100k with 0-based contiguous indices.

    ratings: columns user_idx, item_idx, rating, timestamp (one row per rating, file order).
    users:   indexed by user_idx; columns user_id, age, age_band, gender, occupation, zip.
    items:   indexed by item_idx; columns item_id, title, year (float, NaN when unknown), and one 0/1
             column per genre in GENRES.
    """

    ratings: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    folder: Path

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def interaction_matrix(self, rows: np.ndarray | None = None) -> sp.csr_matrix:
        """Binary users × items CSR matrix of the given rating rows (all ratings when None)."""
        frame = self.ratings if rows is None else self.ratings.iloc[rows]
        return interactions_to_csr(
            frame["user_idx"].to_numpy(), frame["item_idx"].to_numpy(), self.n_users, self.n_items
        )


def interactions_to_csr(
    user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int, weights: np.ndarray | None = None
) -> sp.csr_matrix:
    """Users × items CSR matrix: binary by default; with weights, duplicate (user, item) pairs are summed."""
    data = np.ones(len(user_idx), dtype=np.float32) if weights is None else np.asarray(weights, dtype=np.float32)
    coo = sp.coo_matrix((data, (user_idx, item_idx)), shape=(n_users, n_items))
    matrix = coo.tocsr()
    if weights is None:
        matrix.data[:] = 1.0  # duplicates were summed by tocsr(); implicit feedback is binary
    matrix.sort_indices()
    return matrix


def _read_table(path: Path, sep: str, names: list[str], encoding: str = "utf-8") -> pd.DataFrame:
    if not path.is_file():
        raise DatasetNotFoundError(f"missing file {path}")
    try:
        return pd.read_csv(path, sep=sep, header=None, names=names, encoding=encoding, engine="python")
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: cannot parse as {len(names)} '{sep}'-separated columns {names}: {exc}") from exc


def _release_year(date: object) -> float:
    match = re.search(r"(\d{4})$", str(date)) if isinstance(date, str) else None
    return float(match.group(1)) if match else float("nan")


def load_movielens_100k(data_dir: str | os.PathLike[str] | None = None) -> MovieLens100k:
    """Load u.data, u.user and u.item; raw ids are mapped to 0-based indices (raw id − 1, checked)."""
    folder = resolve_movielens_dir(data_dir)
    ratings = _read_table(folder / "u.data", "\t", ["user_id", "item_id", "rating", "timestamp"])
    users = _read_table(folder / "u.user", "|", ["user_id", "age", "gender", "occupation", "zip"])
    item_cols = ["item_id", "title", "release_date", "video_release_date", "url", *GENRES]
    items = _read_table(folder / "u.item", "|", item_cols, encoding="latin-1")

    for frame, column, path in ((users, "user_id", "u.user"), (items, "item_id", "u.item")):
        expected = np.arange(1, len(frame) + 1)
        if not np.array_equal(frame[column].to_numpy(), expected):
            raise ValueError(f"{folder / path}: {column} must run 1..{len(frame)} in order")
    bad_user = ~ratings["user_id"].between(1, len(users))
    bad_item = ~ratings["item_id"].between(1, len(items))
    if bad_user.any() or bad_item.any():
        line = int(np.flatnonzero((bad_user | bad_item).to_numpy())[0]) + 1
        raise ValueError(f"{folder / 'u.data'} line {line}: user_id or item_id not in u.user/u.item")

    ratings = ratings.assign(user_idx=ratings["user_id"] - 1, item_idx=ratings["item_id"] - 1)
    users = users.assign(age_band=users["age"].map(age_band))
    users.index.name = "user_idx"
    items = items.assign(year=items["release_date"].map(_release_year)).drop(
        columns=["release_date", "video_release_date", "url"]
    )
    items.index.name = "item_idx"
    return MovieLens100k(
        ratings=ratings[["user_idx", "item_idx", "rating", "timestamp"]].reset_index(drop=True),
        users=users,
        items=items,
        folder=folder,
    )


def load_official_split(data: MovieLens100k, name: str = "ua") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The shipped `<name>.base` / `<name>.test` files (ua, ub, u1..u5) as ratings frames with indices."""
    frames = []
    for suffix in ("base", "test"):
        frame = _read_table(data.folder / f"{name}.{suffix}", "\t", ["user_id", "item_id", "rating", "timestamp"])
        frames.append(
            frame.assign(user_idx=frame["user_id"] - 1, item_idx=frame["item_id"] - 1)[
                ["user_idx", "item_idx", "rating", "timestamp"]
            ]
        )
    return frames[0], frames[1]
