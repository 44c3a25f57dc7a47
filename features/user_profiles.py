"""Registered users as training needs them: one small code per user into a table of distinct profiles
(audiences, age band, town, interests), instead of a pydantic `User` per user.

Why: at 1M users, `User` objects cost ~2.5 GB and most of the user read time, while the user features only
depend on the profile, which few distinct values cover (audience × age band × town × interests). Feature
rows are built once per distinct profile and gathered by code; a `User` is built only when asked for (the
validation serves ≤ 200 sampled users).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from content_catalog.schema import User

Profile = tuple[tuple[str, ...], str | None, str | None, tuple[str, ...]]
"""(audiences, age_band, town, interests): what the user features read."""
NO_PROFILE: Profile = ((), None, None, ())
"""An id with events but no registered user (or an anonymous session)."""


class UserProfiles(Mapping[str, User]):
    """id → `User` (built on access, no sessions: training does not read them), plus profile codes."""

    def __init__(self, ids: Sequence[str], codes: np.ndarray, profiles: Sequence[Profile]) -> None:
        self._row = {key: i for i, key in enumerate(ids)}
        self._ids = list(ids)
        self.codes = np.asarray(codes, dtype=np.int32)
        self.profiles = list(profiles)

    @classmethod
    def from_rows(
        cls, rows: Iterable[tuple[str, Sequence[str], str | None, str | None, Sequence[str]]]
    ) -> UserProfiles:
        """Rows (id, audiences, age_band, town, interests), e.g. `Store.iter_user_profiles()`."""
        table: dict[Profile, int] = {}
        ids: list[str] = []
        codes: list[int] = []
        for key, audiences, age_band, town, interests in rows:
            profile = (tuple(audiences or ()), age_band, town, tuple(interests or ()))
            ids.append(key)
            codes.append(table.setdefault(profile, len(table)))
        return cls(ids, np.array(codes, dtype=np.int32), list(table))

    @classmethod
    def from_users(cls, users: Iterable[User]) -> UserProfiles:
        return cls.from_rows((u.id, u.audiences, u.age_band, u.town, u.interests) for u in users)

    def __getitem__(self, key: str) -> User:
        audiences, age_band, town, interests = self.profiles[int(self.codes[self._row[key]])]
        return User.model_construct(
            id=key, audiences=list(audiences), age_band=age_band, town=town, interests=list(interests), sessions=[]
        )

    def __contains__(self, key: object) -> bool:
        return key in self._row

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def profile_codes(self, keys: Sequence[str]) -> tuple[np.ndarray, list[Profile]]:
        """(code per key, profiles): unregistered keys get `NO_PROFILE` (appended as the last profile)."""
        missing = len(self.profiles)
        codes = np.fromiter(
            (self.codes[row] if (row := self._row.get(key)) is not None else missing for key in keys),
            dtype=np.int32,
            count=len(keys),
        )
        return codes, [*self.profiles, NO_PROFILE]

    def features(self, keys: Sequence[str], builder: Any) -> sp.csr_matrix:
        """`builder.transform` of these keys' users (a `UserFeatureBuilder` without identity columns),
        computed once per distinct profile and gathered by code."""
        codes, profiles = self.profile_codes(keys)
        users = [
            User.model_construct(id="profile", audiences=list(a), age_band=b, town=t, interests=list(i), sessions=[])
            for a, b, t, i in profiles
        ]
        return sp.csr_matrix(builder.transform(users)[codes])
