"""Per-segment metric values (e.g. by audience, age band, occupation) from per-user values."""

from __future__ import annotations

import numpy as np
import pandas as pd


def per_segment_mean(per_user: np.ndarray, segment_of_user: np.ndarray | pd.Series) -> pd.Series:
    """Mean of per-user values within each segment, skipping NaN users; indexed by segment label, sorted.

    Both arrays are aligned row by row with the evaluated users. Segments whose users are all NaN get NaN.
    """
    per_user = np.asarray(per_user, dtype=float)
    segments = np.asarray(segment_of_user)
    if per_user.shape[0] != segments.shape[0]:
        raise ValueError(f"{per_user.shape[0]} per-user values but {segments.shape[0]} segment labels")
    frame = pd.DataFrame({"segment": segments, "value": per_user})
    return frame.groupby("segment", sort=True)["value"].mean()


def per_segment_counts(per_user: np.ndarray, segment_of_user: np.ndarray | pd.Series) -> pd.Series:
    """How many users with a defined value each segment has (to judge how noisy a segment mean is)."""
    per_user = np.asarray(per_user, dtype=float)
    frame = pd.DataFrame({"segment": np.asarray(segment_of_user), "defined": ~np.isnan(per_user)})
    return frame.groupby("segment", sort=True)["defined"].sum()
