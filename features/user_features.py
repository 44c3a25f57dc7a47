"""User feature matrix (LightFM style): audience, age band, town, declared interests, channel, identity.

Column names are `audience:<id>`, `age:<band>`, `town:<name>`, `interest:<topic>`, `channel:<id>` from the
controlled vocabularies in `content_catalog.taxonomy` (stable across retrains), plus `user:<id>` identity
columns for the users seen in training. Anonymous visitors get a row from `profile_row` with just an
audience and a channel, so the model can still score them from features alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import scipy.sparse as sp

from content_catalog.schema import User
from content_catalog.taxonomy import AUDIENCES, CHANNELS, TOPICS, TOWNS
from features.idmap import IdMap
from features.sparse_rows import rows_to_csr

AGE_BANDS: tuple[str, ...] = ("under_12", "12_17", "18_34", "35_59", "60_plus")
IDENTITY_PREFIX = "user:"


def profile_features(
    audiences: Iterable[str] = (),
    age_band: str | None = None,
    town: str | None = None,
    interests: Iterable[str] = (),
    channel: str | None = None,
) -> dict[str, float]:
    """Named feature values for one user profile (no identity)."""
    row: dict[str, float] = {}
    for audience in audiences:
        row[f"audience:{audience}"] = 1.0
    if age_band:
        row[f"age:{age_band}"] = 1.0
    if town:
        row[f"town:{town}"] = 1.0
    for topic in interests:
        row[f"interest:{topic}"] = 0.5
    if channel:
        row[f"channel:{channel}"] = 0.5
    return row


class UserFeatureBuilder:
    """fit(users) fixes the columns; transform(users) → CSR (n_users × n_features) with named columns."""

    def __init__(self, identity: bool = True, normalize: bool = True) -> None:
        self.identity = identity
        self.normalize = normalize

    def fit(self, users: Sequence[User]) -> UserFeatureBuilder:
        names = [f"audience:{a}" for a in AUDIENCES] + [f"age:{b}" for b in AGE_BANDS]
        names += [f"town:{t}" for t in TOWNS] + [f"interest:{t}" for t in TOPICS]
        names += [f"channel:{c}" for c in CHANNELS]
        if self.identity:
            names += [f"{IDENTITY_PREFIX}{u.id}" for u in users]
        self.feature_map_ = IdMap.from_values(names)
        return self

    @property
    def feature_names_(self) -> list[str]:
        return self.feature_map_.to_list()

    def _row(self, user: User, channel: str | None) -> dict[str, float]:
        row = profile_features(user.audiences or ["public"], user.age_band, user.town, user.interests, channel)
        if self.identity:
            row[f"{IDENTITY_PREFIX}{user.id}"] = 1.0
        return row

    def transform(self, users: Sequence[User], channel: str | None = None) -> sp.csr_matrix:
        self._check_fitted()
        return rows_to_csr([self._row(u, channel) for u in users], self.feature_map_, self.normalize)

    def fit_transform(self, users: Sequence[User]) -> sp.csr_matrix:
        return self.fit(users).transform(users)

    def profile_row(
        self,
        audiences: Iterable[str] = (),
        age_band: str | None = None,
        town: str | None = None,
        interests: Iterable[str] = (),
        channel: str | None = None,
        user_id: str | None = None,
    ) -> sp.csr_matrix:
        """A 1 × n_features row for a user described by attributes (anonymous or unseen in training)."""
        self._check_fitted()
        row = profile_features(list(audiences) or ["public"], age_band, town, interests, channel)
        if self.identity and user_id is not None:
            row[f"{IDENTITY_PREFIX}{user_id}"] = 1.0
        return rows_to_csr([row], self.feature_map_, self.normalize)

    def _check_fitted(self) -> None:
        if not hasattr(self, "feature_map_"):
            raise RuntimeError("UserFeatureBuilder is not fitted; call fit(users) first")

    def get_state(self) -> dict[str, Any]:
        """JSON-serialisable state (for model bundles)."""
        self._check_fitted()
        return {"identity": self.identity, "normalize": self.normalize, "feature_names": self.feature_names_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> UserFeatureBuilder:
        builder = cls(identity=bool(state["identity"]), normalize=bool(state["normalize"]))
        builder.feature_map_ = IdMap(state["feature_names"])
        return builder
