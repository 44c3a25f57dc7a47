"""Shared helper: rows of {feature name: value} → a CSR matrix over a fixed, named column vocabulary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from features.idmap import IdMap


def rows_to_csr(rows: Sequence[Mapping[str, float]], columns: IdMap, normalize: bool) -> sp.csr_matrix:
    """Unknown feature names are ignored (a value outside the fitted vocabulary carries no signal).

    `normalize` scales every non-empty row to sum 1, as LightFM's `Dataset` does, so users/items with many
    features are not scored on a larger scale than those with few.
    """
    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    for row in rows:
        for name, value in row.items():
            col = columns.get(name)
            if col >= 0 and value:
                indices.append(col)
                data.append(float(value))
        indptr.append(len(indices))
    matrix = sp.csr_matrix(
        (
            np.asarray(data, dtype=np.float32),
            np.asarray(indices, dtype=np.int32),
            np.asarray(indptr, dtype=np.int64),
        ),
        shape=(len(rows), columns.size),
    )
    matrix.sum_duplicates()
    if normalize and matrix.nnz:
        sums = np.asarray(matrix.sum(axis=1)).ravel()
        sums[sums == 0] = 1.0
        matrix = sp.csr_matrix(sp.diags(1.0 / sums) @ matrix, dtype=np.float32)
    return matrix
