"""Benchmark: online recommendation latency and scale, each as a ratio against a baseline measured in the same run.

    .venv/bin/python bench/service_latency.py [--data-dir /work/shared/data] [--quick] [--json]

1. Per-request model scoring: Kepu's precomputed path (`candidates.model_scores`, one matrix-vector product
   over the bundle's item matrix, + `argpartition` top-10) vs `LightFM.predict` for one user over every
   item (what DESIGN.md forbids per request). Both use the same trained model: the LightFM object is
   rebuilt exactly from the bundle (identity embeddings solved from the saved representations and feature
   embeddings) and predicts from the model's real [identity | feature] matrices; the script checks that
   both give the same scores. Catalogs: the shipped demo (457 items) and a 10,000-item catalog of real CSL
   Chinese science titles/abstracts (skipped with a note when CSL is not found).
2. End-to-end `RecommendationService.recommend` (k=10, SQLite store, demo catalog): first and cursor pages
   for known and cold users, p50/p95, vs the bare store round trip `user_history` + `get_items` for the
   same users.
3. Vector search: the project's `VectorIndex` exact (`IndexFlatIP`) vs HNSW on synthetic unit vectors
   (dim 256), one query per call, queries/s ratio and HNSW recall@10 against exact.

Every BLAS/OpenMP pool and faiss run with one thread (set below, before numpy/faiss are imported), so the
figures are per core. Events are SIMULATED (`features.simulator`): they shape the model, not the timings.
"""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _name in THREAD_VARIABLES:
    os.environ[_name] = "1"  # before numpy / faiss load their thread pools

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from lightfm import LightFM  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from content_catalog.demo_catalog import load_demo_items  # noqa: E402
from content_catalog.encoders.evaluation import resolve_csl_dir  # noqa: E402
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder  # noqa: E402
from content_catalog.schema import Item, User  # noqa: E402
from content_catalog.store import Store  # noqa: E402
from content_catalog.taxonomy import SPECIFIC_AUDIENCES  # noqa: E402
from content_catalog.vector_index import VectorIndex  # noqa: E402
from features.interactions import events_to_frame  # noqa: E402
from features.simulator import simulate  # noqa: E402
from recommender.candidates import CatalogView, catalog_item_matrix, model_scores  # noqa: E402
from recommender.registry import Bundle  # noqa: E402
from recommender.service import RecommendationRequest, RecommendationService  # noqa: E402
from recommender.train import TrainParams, train_bundle, train_bundle_from_data  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.scale_data import AUDIENCE_BY_DISCIPLINE, FORMAT_CYCLE, TOPIC_BY_DISCIPLINE, csl_papers  # noqa: E402

K = 10
SEED = 7
ENCODER_DIM = 64
PARAMS = TrainParams(no_components=32, epochs=10, n_text_clusters=16, holdout_fraction=0.0)
"""Model as served by default (32 factors); few epochs and no holdout because only timing matters here."""

CLUSTER_SPREAD = 0.75
"""Norm of the within-cluster noise relative to the unit centre (clustered synthetic vectors)."""


@dataclass
class Row:
    """One line of the report: a contender against the baseline measured next to it."""

    section: str
    case: str
    contender: str
    baseline: str
    unit: str
    contender_p50: float
    baseline_p50: float
    contender_p95: float | None = None
    baseline_p95: float | None = None
    ratio: float = 0.0
    note: str = ""


# ------------------------------------------------------------------------------------------------ timing
def timings(call: Callable[[int], object], repeats: int) -> np.ndarray:
    """Seconds of `call(i)` for i in 0..repeats-1 (one warm-up call first)."""
    call(0)
    out = np.empty(repeats, dtype=np.float64)
    for i in range(repeats):
        start = time.perf_counter()
        call(i)
        out[i] = time.perf_counter() - start
    return out


def top_k(scores: np.ndarray, k: int = K) -> np.ndarray:
    """The k best rows, best first (NaN = unscorable)."""
    values = np.nan_to_num(scores, nan=-np.inf)
    head = np.argpartition(-values, k - 1)[:k]
    return head[np.argsort(-values[head], kind="stable")]


# ------------------------------------------------------------------------------------------------ catalogs
def csl_items(data_dir: Path) -> list[Item]:
    """CSL dev+test (title + abstract) and train (title only) as catalog items with SYNTHETIC metadata."""
    papers = csl_papers(data_dir)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    items = []
    for i, (title, abstract, discipline) in enumerate(papers):
        if not title:
            continue
        items.append(
            Item(
                id=f"csl-{i:05d}",
                title=title[:300],
                summary=abstract[:2000],
                topics=[TOPIC_BY_DISCIPLINE.get(discipline, "scientist_spirit")],
                format=FORMAT_CYCLE[i % len(FORMAT_CYCLE)],
                audiences=[AUDIENCE_BY_DISCIPLINE.get(discipline, "public")],
                source_org=f"CSL {discipline}",
                published_at=start + timedelta(hours=(i * 7_919) % (120 * 24)),
                reading_level="advanced",
            )
        )
    return items


def fitted_encoder(items: Sequence[Item]) -> TfidfSvdEncoder:
    """The offline encoder, fitted on the catalog in id order (no neighbour smoothing: faster to fit)."""
    texts = [it.text for it in sorted(items, key=lambda it: it.id)]
    return TfidfSvdEncoder(dim=ENCODER_DIM, smoothing_neighbours=0, random_state=SEED).fit(texts)


# ------------------------------------------------------------------------------------------------ 1. scoring
def lightfm_from_bundle(
    bundle: Bundle, items: Sequence[Item], users: Sequence[User], encoder: TfidfSvdEncoder
) -> tuple[LightFM, sp.csr_matrix, sp.csr_matrix]:
    """The trained LightFM (with its [identity | features] matrices) rebuilt from a bundle.

    Training row-normalises [I | X], so a saved representation r = (e_id + x·E_feat) / (1 + |x|₁); solving
    for e_id (and likewise the bias) gives back the identity rows the bundle does not store.
    """
    by_id = {it.id: it for it in items}
    ordered = [by_id[i] for i in bundle.item_map.to_list()]
    item_x = bundle.item_features.transform(ordered, encoder.encode([it.text for it in ordered]))
    known = {u.id: u for u in users}
    user_x = bundle.user_features.transform([known.get(key) or User(id=key) for key in bundle.user_map.to_list()])
    arrays = bundle.arrays

    def side(x: sp.csr_matrix, reps: str, biases: str, feat: str) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
        x = sp.csr_matrix(x, dtype=np.float32)
        scale = 1.0 + np.asarray(abs(x).sum(axis=1), dtype=np.float64).ravel()
        emb_feat = np.asarray(arrays[f"{feat}_embeddings"], dtype=np.float64)
        bias_feat = np.asarray(arrays[f"{feat}_biases"], dtype=np.float64)
        emb_id = np.asarray(arrays[reps], dtype=np.float64) * scale[:, None] - x @ emb_feat
        bias_id = np.asarray(arrays[biases], dtype=np.float64) * scale - x @ bias_feat
        full = sp.hstack([sp.identity(x.shape[0], dtype=np.float32, format="csr"), x], format="csr")
        full = sp.csr_matrix(sp.diags(1.0 / scale) @ full, dtype=np.float32)
        return (
            np.vstack([emb_id, emb_feat]).astype(np.float32),
            np.concatenate([bias_id, bias_feat]).astype(np.float32),
            full,
        )

    item_emb, item_bias, item_features = side(item_x, "item_embeddings", "item_biases", "item_feature")
    user_emb, user_bias, user_features = side(user_x, "user_embeddings", "user_biases", "user_feature")
    model = LightFM(no_components=item_emb.shape[1])
    model._initialize(item_emb.shape[1], item_emb.shape[0], user_emb.shape[0])
    model.item_embeddings[:], model.item_biases[:] = item_emb, item_bias
    model.user_embeddings[:], model.user_biases[:] = user_emb, user_bias
    return model, user_features, item_features


def scoring_rows(
    label: str, bundle: Bundle, items: Sequence[Item], users: Sequence[User], encoder: TfidfSvdEncoder, repeats: int
) -> list[Row]:
    """µs per request: precomputed numpy path vs `LightFM.predict` for one user over every item."""
    model, user_features, item_features = lightfm_from_bundle(bundle, items, users, encoder)
    view = CatalogView.build(list(items), bundle.item_map)
    keys = bundle.user_map.to_list()
    all_items = np.arange(len(bundle.item_map), dtype=np.int32)
    to_model = view.model_rows

    catalog_items = catalog_item_matrix(view, bundle.item_matrix)  # once per model version, as the service does

    def served_path(i: int) -> np.ndarray:
        return top_k(model_scores(catalog_items, bundle.user_vector(keys[i % len(keys)])))

    def gather_path(i: int) -> np.ndarray:
        # the previous service path: gather the model rows into catalog order on every request
        return top_k(bundle.item_matrix[to_model] @ bundle.user_vector(keys[i % len(keys)]))

    def predict_path(i: int) -> np.ndarray:
        scores = model.predict(
            i % len(keys), all_items, item_features=item_features, user_features=user_features, num_threads=1
        )
        return top_k(scores[to_model])

    diff = max(
        float(np.nanmax(np.abs(model_scores(catalog_items, bundle.user_vector(keys[u]))
                               - model.predict(u, all_items, item_features=item_features,
                                               user_features=user_features)[to_model])))
        for u in range(min(20, len(keys)))
    )  # fmt: skip
    if diff > 1e-3:
        raise AssertionError(f"{label}: LightFM.predict and the bundle disagree (max |Δscore| = {diff:.2e})")
    slow = timings(predict_path, max(repeats // 4, 10)) * 1e6
    contenders = {
        "service path: catalog-ordered matrix @ user + argpartition": served_path,
        "rows gathered per request @ user + argpartition": gather_path,
    }
    rows = []
    for name, call in contenders.items():
        fast = timings(call, repeats) * 1e6
        rows.append(
            Row(
                section="1. per-request scoring",
                case=f"{label}: {len(all_items):,} items, {len(keys)} users",
                contender=name,
                baseline="LightFM.predict one user × all items",
                unit="µs",
                contender_p50=float(np.median(fast)),
                baseline_p50=float(np.median(slow)),
                contender_p95=float(np.percentile(fast, 95)),
                baseline_p95=float(np.percentile(slow, 95)),
                ratio=float(np.median(slow) / np.median(fast)),
                note=f"speed-up (baseline/contender); max abs score difference {diff:.1e}",
            )
        )
    return rows


def csl_bundle(data_dir: Path, out_dir: Path) -> tuple[Bundle, list[Item], list[User], TfidfSvdEncoder]:
    """Train a bundle on the CSL-derived catalog with simulated traffic."""
    items = csl_items(data_dir)
    users, events = simulate(items, n_users_per_audience=30, days=30, seed=SEED)
    encoder = fitted_encoder(items)
    bundle = train_bundle_from_data(
        items, events_to_frame(events), users, encoder, out_dir, SEED, params=PARAMS, version="bench-csl"
    )
    return bundle, items, users, encoder


# ------------------------------------------------------------------------------------------------ 2. service
@dataclass
class DemoWorld:
    store: Store
    service: RecommendationService
    bundle: Bundle
    items: list[Item]
    users: list[User]
    encoder: TfidfSvdEncoder
    now: datetime


def demo_world(root: Path) -> DemoWorld:
    """SQLite store ← demo catalog + simulated traffic → trained bundle → service (as the API builds it)."""
    items = load_demo_items()
    users, events = simulate(items, n_users_per_audience=10, days=30, seed=SEED)
    store = Store(f"sqlite:///{root / 'kepu.db'}")
    store.upsert_items(items)
    for user in users:
        store.upsert_user(user)
    store.add_events(events)
    encoder = fitted_encoder(items)
    bundle = train_bundle(store, encoder, root / "models", SEED, params=PARAMS, version="bench-demo")
    index = VectorIndex(ENCODER_DIM)
    index.add([it.id for it in items], encoder.encode([it.text for it in items]))
    service = RecommendationService(store, bundle, encoder, index)
    now = max(e.timestamp for e in events) + timedelta(hours=1)
    return DemoWorld(store, service, bundle, items, users, encoder, now)


def service_rows(world: DemoWorld, repeats: int) -> list[Row]:
    """recommend() p50/p95 for known/cold users, first/cursor pages, vs the bare store round trip."""
    service, store, now = world.service, world.store, world.now
    known = [u.id for u in world.users if world.bundle.user_map.get(u.id) >= 0]
    audiences = (*SPECIFIC_AUDIENCES, "public")

    def known_request(i: int, cursor: str | None = None) -> RecommendationRequest:
        return RecommendationRequest(user_id=known[i % len(known)], k=K, now=now, cursor=cursor)

    def cold_request(i: int, cursor: str | None = None) -> RecommendationRequest:
        j = i % len(known)
        return RecommendationRequest(
            session_id=f"bench-cold-{j}", audience=audiences[j % len(audiences)], k=K, now=now, cursor=cursor
        )

    first_pages = {i: service.recommend(known_request(i)) for i in range(len(known))}
    cold_pages = {i: service.recommend(cold_request(i)) for i in range(len(known))}
    page_ids = {i: [card.id for card in page.items] for i, page in first_pages.items()}

    def store_round_trip(i: int) -> None:
        store.user_history(user_id=known[i % len(known)], limit=service.settings.history_limit)
        store.get_items(page_ids[i % len(known)])

    cases: dict[str, Callable[[int], object]] = {
        "known user, first page": lambda i: service.recommend(known_request(i)),
        "known user, cursor page": lambda i: service.recommend(
            known_request(i, first_pages[i % len(known)].next_cursor)
        ),
        "cold user (new session + audience), first page": lambda i: service.recommend(cold_request(i)),
        "cold user, cursor page": lambda i: service.recommend(cold_request(i, cold_pages[i % len(known)].next_cursor)),
    }
    base = timings(store_round_trip, repeats) * 1e3
    rows = []
    for case, call in cases.items():
        took = timings(call, repeats) * 1e3
        rows.append(
            Row(
                section="2. RecommendationService.recommend (SQLite, k=10)",
                case=f"demo {len(world.items)} items: {case}",
                contender="recommend()",
                baseline="store.user_history + store.get_items",
                unit="ms",
                contender_p50=float(np.median(took)),
                baseline_p50=float(np.median(base)),
                contender_p95=float(np.percentile(took, 95)),
                baseline_p95=float(np.percentile(base, 95)),
                ratio=float(np.median(took) / np.median(base)),
                note="cost multiple (contender/baseline)",
            )
        )
    return rows


# ------------------------------------------------------------------------------------------------ 3. vectors
def unit_vectors(n: int, dim: int, rng: np.random.Generator, clusters: int = 0) -> np.ndarray:
    """Unit vectors: iid Gaussian directions (`clusters=0`, the worst case for HNSW: every point is almost
    equally far from every other), or points scattered around `clusters` random centres, closer to the
    topical structure of text embeddings. Pass the same `rng` state for data and queries' centres."""
    x = rng.standard_normal((n, dim), dtype=np.float32)
    if clusters:
        centres = np.random.default_rng(SEED + 1).standard_normal((clusters, dim), dtype=np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        x = centres[rng.integers(0, clusters, size=n)] + x * np.float32(CLUSTER_SPREAD / np.sqrt(dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def timed_searches(index: VectorIndex, probes: np.ndarray) -> tuple[np.ndarray, list[set[str]]]:
    """Seconds per single-query search and the ids found, one call per probe row."""
    found: list[set[str]] = []
    seconds = timings(lambda i: found.append(set(index.search(probes[i], K)[0][0])), len(probes))
    return seconds, found[1:]  # the first call is the warm-up for probe 0


def vector_rows(sizes: Sequence[int], dim: int, queries: int, ef_construction: int, clustered: bool) -> list[Row]:
    """VectorIndex exact vs HNSW: queries/s (one query per call, k=10) and HNSW recall@10 vs exact."""
    rng = np.random.default_rng(SEED)
    rows = []
    for n in sizes:
        clusters = max(n // 100, 1) if clustered else 0
        vectors = unit_vectors(n, dim, rng, clusters)
        ids = [f"v{i}" for i in range(n)]
        probes = unit_vectors(queries, dim, rng, clusters)
        exact = VectorIndex(dim, hnsw_threshold=n + 1)
        exact.add(ids, vectors)
        start = time.perf_counter()
        hnsw = VectorIndex(dim, hnsw_threshold=1, ef_construction=ef_construction)
        hnsw.add(ids, vectors)
        build = time.perf_counter() - start
        if exact.is_hnsw or not hnsw.is_hnsw:
            raise AssertionError("vector bench: index kinds are not exact vs HNSW")
        exact_s, truth = timed_searches(exact, probes)
        hnsw_s, found = timed_searches(hnsw, probes)
        recall = float(np.mean([len(t & f) / K for t, f in zip(truth, found, strict=True)]))
        rows.append(
            Row(
                section="3. vector search (VectorIndex, k=10, 1 query/call)",
                case=f"{n:,} unit vectors, dim {dim}, " + (f"{clusters:,} clusters" if clusters else "iid"),
                contender=f"HNSW (M={hnsw.hnsw_m}, efC={ef_construction}, efSearch={hnsw.ef_search})",
                baseline="exact IndexFlatIP",
                unit="queries/s",
                contender_p50=float(1.0 / np.median(hnsw_s)),
                baseline_p50=float(1.0 / np.median(exact_s)),
                ratio=float(np.median(exact_s) / np.median(hnsw_s)),
                note=f"speed-up; recall@10 {recall:.3f}; HNSW build {build:.1f} s",
            )
        )
    return rows


# ------------------------------------------------------------------------------------------------ report
def format_table(rows: Sequence[Row]) -> str:
    lines = []
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            lines += ["", f"## {section}", ""]
            lines.append("| case | contender p50 / p95 | baseline p50 / p95 | ratio | note |")
            lines.append("|---|---|---|---|---|")
        c95 = f" / {row.contender_p95:,.1f}" if row.contender_p95 is not None else ""
        b95 = f" / {row.baseline_p95:,.1f}" if row.baseline_p95 is not None else ""
        lines.append(
            f"| {row.case} | {row.contender}: {row.contender_p50:,.1f}{c95} {row.unit} "
            f"| {row.baseline}: {row.baseline_p50:,.1f}{b95} {row.unit} | **{row.ratio:,.1f}×** | {row.note} |"
        )
    return "\n".join(lines)


def threads_line() -> str:
    env = " ".join(f"{name}={os.environ[name]}" for name in THREAD_VARIABLES)
    return f"threads: {env}, threadpoolctl limit 1, faiss.omp_set_num_threads(1), LightFM num_threads=1"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("KEPU_DATA_DIR"), help="holds csl/")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--sizes", default="10000,100000", help="vector counts for section 3")
    parser.add_argument(
        "--vectors", choices=("clustered", "iid"), default="clustered", help="synthetic data for section 3"
    )
    parser.add_argument("--ef-construction", type=int, default=64, help="HNSW build breadth in section 3")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    faiss.omp_set_num_threads(1)
    repeats = 40 if args.quick else 200
    notes: list[str] = []
    rows: list[Row] = []
    started = time.perf_counter()
    with threadpool_limits(limits=1), tempfile.TemporaryDirectory(prefix="kepu-bench-") as tmp:
        root = Path(tmp)
        world = demo_world(root)
        try:
            rows += scoring_rows("demo", world.bundle, world.items, world.users, world.encoder, repeats)
            csl_dir: Path | None = None
            if args.data_dir:
                try:
                    csl_dir = resolve_csl_dir(args.data_dir).parent
                except FileNotFoundError as exc:
                    notes.append(f"CSL catalog row skipped: {exc}")
            else:
                notes.append("CSL catalog row skipped: no --data-dir and KEPU_DATA_DIR is unset")
            if csl_dir is not None:
                bundle, items, users, encoder = csl_bundle(csl_dir, root / "csl-models")
                rows += scoring_rows("CSL-derived", bundle, items, users, encoder, repeats)
            rows += service_rows(world, repeats)
        finally:
            world.store.close()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows += vector_rows(sizes, 256, 50 if args.quick else 200, args.ef_construction, args.vectors == "clustered")
    seconds = time.perf_counter() - started
    if args.json:
        payload: dict[str, Any] = {"threads": threads_line(), "notes": notes, "seconds": round(seconds, 1)}
        payload["rows"] = [asdict(r) for r in rows]
        print(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        print(f"# Kepu online latency ({'quick' if args.quick else 'full'} run, {seconds:.0f} s)")
        print(threads_line())
        for note in notes:
            print(f"note: {note}")
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
