"""Judged search queries and similar-item pairs (bench/judged/*.tsv) and the graded metrics that score them.

Shared by `bench/search_quality.py`, `bench/similar_items.py` and the tests, so the numbers in docs/search.md
and the checks in CI come from one definition. Grades: 2 = answers the query, 1 = related, 0 = not (every
item not listed). Ids in the files are short (`b002` = `kp-b-002`) to keep them readable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

JUDGED_DIR = Path(__file__).resolve().parents[2] / "bench" / "judged"
QUERIES_FILE = JUDGED_DIR / "search_queries.tsv"
PAIRS_FILE = JUDGED_DIR / "similar_pairs.tsv"
UNANSWERABLE = "unanswerable"


def full_id(short: str) -> str:
    """'b002' → 'kp-b-002' (the demo catalog's ids)."""
    if len(short) < 2 or not short[1:].isdigit():
        raise ValueError(f"not a short demo item id: {short!r}")
    return f"kp-{short[0]}-{short[1:]}"


def _grades(cells: Sequence[str], where: str) -> dict[str, int]:
    grades: dict[str, int] = {}
    for cell in cells:
        short, _, grade = cell.partition(":")
        if grade not in ("0", "1", "2"):
            raise ValueError(f"{where}: grade of {cell!r} must be 0, 1 or 2")
        grades[full_id(short)] = int(grade)
    return grades


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip() and not line.startswith("#"):
            rows.append((number, line.split("\t")))
    return rows


@dataclass(frozen=True)
class JudgedQuery:
    id: str
    kind: str
    text: str
    grades: dict[str, int] = field(default_factory=dict)

    @property
    def answerable(self) -> bool:
        return any(g > 0 for g in self.grades.values())


def load_queries(path: Path = QUERIES_FILE) -> list[JudgedQuery]:
    """Read the graded query set; errors name file and line."""
    queries = []
    for number, cells in _rows(path):
        if len(cells) not in (3, 4):
            raise ValueError(f"{path}:{number}: expected id, kind, query[, grades], got {len(cells)} fields")
        grades = _grades(cells[3].split(), f"{path}:{number}") if len(cells) == 4 else {}
        query = JudgedQuery(cells[0], cells[1], cells[2], grades)
        if (query.kind == UNANSWERABLE) == query.answerable:
            raise ValueError(f"{path}:{number}: only '{UNANSWERABLE}' queries may (and must) have no graded item")
        queries.append(query)
    return queries


def load_pairs(path: Path = PAIRS_FILE) -> dict[str, dict[str, int]]:
    """Anchor item id → {neighbour id: grade}."""
    return {full_id(cells[0]): _grades(cells[1].split(), f"{path}:{number}") for number, cells in _rows(path)}


def dcg(gains: Sequence[float]) -> float:
    return sum((2.0**g - 1.0) / math.log2(rank + 2) for rank, g in enumerate(gains))


def ndcg_at(ranked: Sequence[str], grades: dict[str, int], k: int = 10) -> float:
    """Graded NDCG@k (gain 2^grade − 1); 0 when nothing is relevant."""
    ideal = dcg(sorted(grades.values(), reverse=True)[:k])
    return dcg([grades.get(i, 0) for i in ranked[:k]]) / ideal if ideal > 0 else 0.0


def mrr_at(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    return next((1.0 / (rank + 1) for rank, i in enumerate(ranked[:k]) if i in relevant), 0.0)


def recall_at(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


@dataclass(frozen=True)
class QueryScores:
    ndcg: float
    mrr: float
    recall: float
    empty: bool


def score_query(query: JudgedQuery, ranked: Sequence[str], k: int = 10) -> QueryScores:
    relevant = {i for i, g in query.grades.items() if g > 0}
    return QueryScores(
        ndcg_at(ranked, query.grades, k), mrr_at(ranked, relevant, k), recall_at(ranked, relevant, k), not ranked
    )


@dataclass(frozen=True)
class Summary:
    """Means over answerable queries (overall and per kind) plus no-answer precision and recall."""

    ndcg: float
    mrr: float
    recall: float
    ndcg_by_kind: dict[str, float]
    no_answer_precision: float
    no_answer_recall: float


def summarize(queries: Sequence[JudgedQuery], results: Sequence[Sequence[str]], k: int = 10) -> Summary:
    """`results[i]` is the ranked id list returned for `queries[i]` (empty = "no answer")."""
    scored = [score_query(q, r, k) for q, r in zip(queries, results, strict=True)]
    answerable = [(q, s) for q, s in zip(queries, scored, strict=True) if q.answerable]
    kinds = sorted({q.kind for q, _ in answerable})
    by_kind = {kind: _mean([s.ndcg for q, s in answerable if q.kind == kind]) for kind in kinds}
    said_empty = [q for q, s in zip(queries, scored, strict=True) if s.empty]
    truly_empty = [q for q in queries if not q.answerable]
    hits = sum(1 for q in said_empty if not q.answerable)
    return Summary(
        ndcg=_mean([s.ndcg for _, s in answerable]),
        mrr=_mean([s.mrr for _, s in answerable]),
        recall=_mean([s.recall for _, s in answerable]),
        ndcg_by_kind=by_kind,
        no_answer_precision=hits / len(said_empty) if said_empty else 0.0,
        no_answer_recall=hits / len(truly_empty) if truly_empty else 0.0,
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
