"""User ids of a bundle as two memory-mapped arrays instead of a Python dict in every worker.

At 1M trained users an `IdMap` costs each API worker ~150 MB of private memory (1M `str` objects plus a
dict), more than the user embeddings themselves, which are memory-mapped and shared. `SortedIds` keeps
the ids as a sorted fixed-width UTF-8 byte array (`<name>.keys.npy`) and the matrix row of each
(`<name>.rows.npy`); a lookup is one binary search over the mapped array (a few µs), and every worker on
the machine shares the same page-cache pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

KEYS_SUFFIX = ".keys.npy"
ROWS_SUFFIX = ".rows.npy"


def save_sorted_ids(folder: Path, name: str, ids: Sequence[str]) -> None:
    """Write `<name>.keys.npy` (sorted UTF-8 bytes) and `<name>.rows.npy` (row of each key)."""
    encoded = np.asarray([str(i).encode("utf-8") for i in ids], dtype=np.bytes_)
    if encoded.dtype.itemsize == 0:
        encoded = encoded.astype("S1")
    order = np.argsort(encoded, kind="stable")
    np.save(folder / f"{name}{KEYS_SUFFIX}", encoded[order], allow_pickle=False)
    np.save(folder / f"{name}{ROWS_SUFFIX}", order.astype(np.int64), allow_pickle=False)


class SortedIds:
    """The read side of `IdMap` (`get`, `len`, `in`, conversions) over the two mapped arrays."""

    def __init__(self, keys: np.ndarray, rows: np.ndarray) -> None:
        if len(keys) != len(rows):
            raise ValueError(f"SortedIds: {len(keys)} keys but {len(rows)} rows")
        self._keys = keys
        self._rows = rows

    @classmethod
    def load(cls, folder: Path, name: str, mmap: bool = True) -> SortedIds:
        mode = "r" if mmap else None
        keys = np.load(folder / f"{name}{KEYS_SUFFIX}", mmap_mode=mode, allow_pickle=False)
        rows = np.load(folder / f"{name}{ROWS_SUFFIX}", mmap_mode=mode, allow_pickle=False)
        return cls(keys, rows)

    @property
    def size(self) -> int:
        return len(self._keys)

    def __len__(self) -> int:
        return self.size

    def get(self, external_id: str, default: int = -1) -> int:
        """Row of `external_id`, or `default` when unknown (ids longer than the stored width never match)."""
        key = str(external_id).encode("utf-8")
        if not self.size or len(key) > self._keys.dtype.itemsize:
            return default
        at = int(np.searchsorted(self._keys, key))
        if at < self.size and self._keys[at] == key:
            return int(self._rows[at])
        return default

    def __contains__(self, external_id: object) -> bool:
        return self.get(str(external_id)) >= 0

    def convert_to_internal(self, external_ids: Iterable[str], strict: bool = True) -> np.ndarray:
        ids = [str(e) for e in external_ids]
        out = np.fromiter((self.get(e) for e in ids), dtype=np.int64, count=len(ids))
        if strict and (out < 0).any():
            unknown = [e for e, i in zip(ids, out, strict=True) if i < 0][:5]
            raise KeyError(f"SortedIds: unknown external id(s) {unknown}")
        return out

    def to_list(self) -> list[str]:
        """Ids in row order (materialises every id: for tools and tests, not the request path)."""
        out = [""] * self.size
        for key, row in zip(self._keys, self._rows, strict=True):
            out[int(row)] = bytes(key).decode("utf-8")
        return out

    def convert_to_external(self, internal_ids: Iterable[int] | np.ndarray) -> list[str]:
        wanted = np.asarray(list(internal_ids) if not isinstance(internal_ids, np.ndarray) else internal_ids)
        inverse = np.empty(self.size, dtype=np.int64)
        inverse[np.asarray(self._rows)] = np.arange(self.size)
        return [bytes(self._keys[inverse[int(i)]]).decode("utf-8") for i in wanted]

    def __eq__(self, other: object) -> bool:
        return hasattr(other, "to_list") and self.to_list() == other.to_list()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash(tuple(self.to_list()))

    def __repr__(self) -> str:
        return f"SortedIds(size={self.size})"
