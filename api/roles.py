"""API-key roles, ordered: each role may do everything the roles below it may do."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Role(IntEnum):
    """reader < ingest < editor < admin. Compared with `>=` to decide access."""

    READER = 1
    INGEST = 2
    EDITOR = 3
    ADMIN = 4

    @classmethod
    def parse(cls, value: Any) -> Role:
        """Accept a role name (`"editor"`), a Role, or its number, with an error listing the valid names."""
        if isinstance(value, Role):
            return value
        if isinstance(value, str) and value.strip().upper() in cls.__members__:
            return cls[value.strip().upper()]
        if isinstance(value, int) and value in cls._value2member_map_:
            return cls(value)
        raise ValueError(f"unknown role {value!r}; expected one of {[r.name.lower() for r in cls]}")

    @classmethod
    def _missing_(cls, value: object) -> Role | None:
        try:
            return cls.parse(value) if isinstance(value, str) else None
        except ValueError:
            return None

    @property
    def label(self) -> str:
        return self.name.lower()
