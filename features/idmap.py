"""Two-way mapping between external ids (strings from the store) and dense internal row/column indices.

Lives in `features` (not `recommender`) because the interaction matrix needs it and dependencies point
one way (recommender → features); `recommender.idmap` re-exports it. Modelled on RecTools' `IdMap`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


class IdMap:
    """External ids in order of first appearance; internal id = position in that order."""

    def __init__(self, external_ids: Sequence[str]) -> None:
        ids = [str(x) for x in external_ids]
        self._to_internal: dict[str, int] = {}
        for position, ext in enumerate(ids):
            if ext in self._to_internal:
                raise ValueError(
                    f"IdMap: external id {ext!r} appears twice (positions {self._to_internal[ext]} and {position})"
                )
            self._to_internal[ext] = position
        self._external = np.asarray(ids, dtype=object)

    @classmethod
    def from_values(cls, values: Iterable[str]) -> IdMap:
        """Unique values in order of first appearance (duplicates allowed in the input)."""
        return cls(list(dict.fromkeys(str(v) for v in values)))

    @property
    def size(self) -> int:
        return len(self._external)

    def __len__(self) -> int:
        return self.size

    def __contains__(self, external_id: object) -> bool:
        return str(external_id) in self._to_internal

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self.to_list() == other.to_list()

    def __hash__(self) -> int:
        return hash(tuple(self.to_list()))

    def get(self, external_id: str, default: int = -1) -> int:
        """Internal id or `default` (-1) when unknown."""
        return self._to_internal.get(str(external_id), default)

    def convert_to_internal(self, external_ids: Iterable[str], strict: bool = True) -> np.ndarray:
        """int64 internal ids; unknown ids raise (strict) or map to -1."""
        out = np.fromiter((self._to_internal.get(str(e), -1) for e in external_ids), dtype=np.int64)
        if strict and (out < 0).any():
            missing = [str(e) for e, i in zip(external_ids, out, strict=False) if i < 0][:5]
            raise KeyError(f"IdMap: unknown external id(s) {missing}")
        return out

    def convert_to_external(self, internal_ids: Iterable[int] | np.ndarray) -> list[str]:
        idx = np.asarray(
            list(internal_ids) if not isinstance(internal_ids, np.ndarray) else internal_ids, dtype=np.int64
        )
        if idx.size and (idx.min() < 0 or idx.max() >= self.size):
            raise IndexError(f"IdMap: internal id out of range [0, {self.size})")
        return [str(x) for x in self._external[idx]]

    def add_ids(self, external_ids: Iterable[str]) -> IdMap:
        """A new map with unseen ids appended (existing internal ids unchanged)."""
        extra = [str(e) for e in dict.fromkeys(str(x) for x in external_ids) if str(e) not in self._to_internal]
        grown = IdMap.__new__(IdMap)  # the existing ids are known unique: copy, do not re-check them
        grown._to_internal = {**self._to_internal, **{e: self.size + i for i, e in enumerate(extra)}}
        grown._external = np.concatenate([self._external, np.asarray(extra, dtype=object)])
        return grown

    def to_list(self) -> list[str]:
        return [str(x) for x in self._external]

    def __repr__(self) -> str:
        return f"IdMap(size={self.size})"
