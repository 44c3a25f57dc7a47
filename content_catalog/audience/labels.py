"""The six label columns the tagger scores: the five specific audiences, then `public`.

Editors use `public` two ways: alone ("for everyone", the taxonomy's fallback) and next to a specific
audience ("for seniors, and fine for anyone"). So `public` gets its own score like any audience, and
is also given whenever no specific audience passes its threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from content_catalog.schema import Item
from content_catalog.taxonomy import SPECIFIC_AUDIENCES

LABELS: tuple[str, ...] = (*SPECIFIC_AUDIENCES, "public")
PUBLIC: int = LABELS.index("public")
N_SPECIFIC: int = len(SPECIFIC_AUDIENCES)


def label_matrix(items: Sequence[Item]) -> np.ndarray:
    """Editor labels as a boolean (n, 6) matrix in LABELS order."""
    truth = np.zeros((len(items), len(LABELS)), dtype=bool)
    for row, item in enumerate(items):
        for audience in item.editor_audiences:
            truth[row, LABELS.index(audience)] = True
    return truth
