"""Model bundles on disk: a versioned folder of arrays + JSON, and a `manifest.json` with the model name
and params, data counts, the `--model auto` selection, metrics, seed, created_at and the sha256 of every
file. `load_bundle` verifies every checksum (a corrupt or edited bundle raises `BundleError`); arrays are
memory-mapped so processes share them. Activation goes through the store's model-version table.

Format 2 stores any `recommender.rankers` ranker (`ranker.<array>.npy` + its params in the manifest) and
the online blend fitted on validation (`online_blend.json`), and optionally the cold-start companions
(`cold.<role>.<array>.npy` + `cold_start` in the manifest, `recommender.rankers.cold_start`); format-2
bundles written before companions existed load without them. Bundles may keep the hourly trending mass
of their training events (`trending_hours/items/mass.npy` + `trending_history` in the manifest,
`recommender.trending`) for requests dated inside the training span; bundles without it serve the
end-of-training `trending` prior for every request. Format-1 bundles (LightFM arrays only) still
load, as a LightFM ranker with the documented default blend; newer formats are refused with a message.

Every array is a plain `.npy` (uncompressed), so `np.load(mmap_mode="r")` maps it: the pages are shared by
every worker process on the machine, and a worker's private memory does not grow with the user count.
User ids are also saved as two mapped arrays (`user_ids.keys.npy`, `user_ids.rows.npy`, see
`recommender.mapped_ids`); bundles written before them (only `user_ids.json`) still load, into an `IdMap`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from features.idmap import IdMap
from features.interactions import EVENT_WEIGHTS
from features.item_features import ItemFeatureBuilder
from features.user_features import UserFeatureBuilder
from recommender.mapped_ids import SortedIds, save_sorted_ids
from recommender.online_blend import OnlineBlend
from recommender.rankers import Ranker, RankerError, ranker_from_state
from recommender.rankers.cold_start import ColdStart
from recommender.trending import ARRAYS as TRENDING_ARRAYS
from recommender.trending import TrendingHistory

MANIFEST = "manifest.json"
FORMAT_VERSION = 2
PRIORS = ("popularity", "trending", "user_counts")
JSONS = ("item_ids", "user_ids", "user_features", "item_features", "audiences")
V1_RANKER_ARRAYS = (
    "item_embeddings",
    "item_biases",
    "user_embeddings",
    "user_biases",
    "user_feature_embeddings",
    "user_feature_biases",
    "item_feature_embeddings",
    "item_feature_biases",
)
MAPPED_USER_IDS = {"user_ids.keys.npy", "user_ids.rows.npy"}
HISTORY_CAP = 10.0
"""Cap on one (user, item) history weight, as `InteractionMatrixBuilder.max_value`."""


class BundleError(ValueError):
    """A model bundle is missing, incomplete, of an unknown format or fails its checksums."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Bundle:
    """Everything the online path needs from one trained version.

    `ranker` scores (see `recommender.rankers`); `arrays` holds the priors: popularity (n_audiences,
    n_items) in `audiences` order, trending (n_items,), user_counts (n_users,) = training interactions
    per user. `blend` is the online blend fitted on validation (None: the documented default). `cold`
    answers profile-only requesters and items added after training (None: the ranker alone does).
    """

    version: str
    path: Path | None
    manifest: dict[str, Any]
    item_map: IdMap
    user_map: IdMap | SortedIds
    ranker: Ranker
    arrays: dict[str, np.ndarray]
    user_features: UserFeatureBuilder
    item_features: ItemFeatureBuilder
    audiences: list[str]
    blend: OnlineBlend | None = None
    cold: ColdStart | None = None
    _item_matrix: np.ndarray | None = field(default=None, repr=False)
    _trending: TrendingHistory | None = field(default=None, repr=False, compare=False)

    @property
    def model_name(self) -> str:
        model = self.manifest.get("model")
        return str(model.get("name") if isinstance(model, dict) else model or self.ranker.name)

    @property
    def checksum(self) -> str:
        """sha256 over the manifest's per-file checksums (identifies the bundle's exact content)."""
        files = self.manifest.get("files", {})
        return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()

    @property
    def item_matrix(self) -> np.ndarray:
        """(n_items, d) item representations; one product with a user vector scores every item."""
        if self._item_matrix is None:
            main = np.asarray(self.ranker.item_matrix(), dtype=np.float32)
            matrix = main if self.cold is None else self.cold.item_matrix(main)
            self._item_matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        return self._item_matrix

    def history_row(self, history: Sequence[tuple[str, str]]) -> np.ndarray:
        """Dense weights over the model's items from (item id, event type) pairs, weighted as training
        weighs events (no decay: the newest state of the user) and capped like the training matrix."""
        row = np.zeros(len(self.item_map), dtype=np.float32)
        for item_id, kind in history:
            col = self.item_map.get(item_id)
            weight = EVENT_WEIGHTS.get(kind, 0.0)
            if col >= 0 and weight > 0:
                row[col] = min(HISTORY_CAP, row[col] + weight)
        return row

    def user_vector(self, user_key: str | None, history: Sequence[tuple[str, str]] = ()) -> np.ndarray | None:
        """The ranker's vector for a requester with this key and live history (None: cannot score)."""
        row = int(self.user_map.get(user_key) if user_key else -1)
        live = self.history_row(history)
        vector = self.ranker.user_vector(row, live)
        if vector is None or self.cold is None:
            return vector
        return self.cold.user_vector(vector, row, live)

    def user_interactions(self, user_key: str) -> int:
        row = self.user_map.get(user_key)
        return 0 if row < 0 else int(self.arrays["user_counts"][row])

    def cold_user_vector(self, feature_row: sp.spmatrix) -> np.ndarray | None:
        """A user known only by features (anonymous / registered after training)."""
        row = sp.csr_matrix(feature_row, dtype=np.float32)
        main_dim = self.item_matrix.shape[1] - (self.cold.width() if self.cold is not None else 0)
        if self.cold is not None:
            vector = self.cold.profile_vector(main_dim, row)
            if vector is not None:
                return vector
        vector = self.ranker.profile_vector(row)
        if vector is None or self.cold is None:
            return vector
        padding = np.zeros(self.cold.width(), np.float32)
        return np.concatenate([vector, padding]).astype(np.float32)

    def cold_item_matrix(self, feature_rows: sp.spmatrix) -> np.ndarray:
        """(n, d) item rows from features only, for items the model has never seen."""
        features = sp.csr_matrix(feature_rows, dtype=np.float32)
        rows = np.asarray(self.ranker.cold_item_matrix(features), np.float32)
        return rows if self.cold is None else self.cold.cold_item_matrix(rows, features)

    def trending_key(self, now_ts: float) -> int | None:
        """Cache key of `trending_at(now_ts)`: its hour inside the training span, None after it."""
        history = self.trending_history
        return None if history is None else history.hour_key(now_ts)

    def trending_at(self, now_ts: float) -> np.ndarray:
        """Trending over the model's items as of `now` (`recommender.trending`): the end-of-training prior
        unless `now` lies before the last training event and the bundle keeps the hourly history."""
        history = self.trending_history
        if history is None or history.hour_key(now_ts) is None:
            return np.asarray(self.arrays["trending"])
        return history.at(now_ts)

    @property
    def trending_history(self) -> TrendingHistory | None:
        spec = self.manifest.get("trending_history")
        if not spec or not all(n in self.arrays for n in TRENDING_ARRAYS):
            return None
        if self._trending is None:
            self._trending = TrendingHistory.from_arrays(self.arrays, spec, len(self.item_map))
        return self._trending

    def popularity_for(self, audience: str) -> np.ndarray:
        if audience not in self.audiences:
            raise ValueError(f"audience {audience!r} not in bundle audiences {self.audiences}")
        return np.asarray(self.arrays["popularity"][self.audiences.index(audience)])


def save_bundle(
    out_dir: Path,
    version: str,
    *,
    ranker: Ranker,
    priors: dict[str, np.ndarray],
    item_map: IdMap,
    user_map: IdMap,
    user_features: UserFeatureBuilder,
    item_features: ItemFeatureBuilder,
    audiences: list[str],
    manifest_extra: dict[str, Any],
    blend: OnlineBlend | None = None,
    cold: ColdStart | None = None,
) -> Path:
    """Write `out_dir/<version>/` and its manifest; refuses to overwrite an existing version. Files are
    written into a hidden temporary folder first and renamed into place at the end."""
    missing = [name for name in PRIORS if name not in priors]
    if missing:
        raise BundleError(f"save_bundle: missing array(s) {missing}")
    final = Path(out_dir) / version
    if final.exists():
        raise BundleError(f"save_bundle: {final} already exists (versions are immutable)")
    final.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=final.parent))  # renamed when complete
    ranker_arrays, ranker_params = ranker.state()
    cold_arrays, cold_params = cold.state() if cold is not None else ({}, None)
    try:
        arrays = {**{n: priors[n] for n in PRIORS}, **{f"ranker.{n}": a for n, a in ranker_arrays.items()}}
        arrays |= {f"cold.{n}": a for n, a in cold_arrays.items()}
        arrays |= {n: priors[n] for n in TRENDING_ARRAYS if n in priors}
        docs = {
            "item_ids": item_map.to_list(),
            "user_ids": user_map.to_list(),
            "user_features": user_features.get_state(),
            "item_features": item_features.get_state(),
            "audiences": audiences,
            "online_blend": blend.to_json() if blend is not None else None,
        }
        model = {"name": ranker.name, "params": ranker_params, "arrays": sorted(ranker_arrays)}
        extra = {**manifest_extra, "model": model, **({"cold_start": cold_params} if cold_params else {})}
        _write_files(folder, version, arrays, extra, docs)
        folder.chmod(0o755)
        folder.rename(final)  # atomic on one file system: a crash never leaves a half-written version
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, OSError):
            raise BundleError(f"save_bundle: could not write the bundle into {final}: {exc}") from exc
        raise
    return final


def _write_files(
    folder: Path, version: str, arrays: dict[str, np.ndarray], manifest_extra: dict[str, Any], docs: dict[str, Any]
) -> None:
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
    for name, doc in docs.items():
        (folder / f"{name}.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    save_sorted_ids(folder, "user_ids", docs["user_ids"])
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir())}
    manifest = {
        "format_version": FORMAT_VERSION,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        **manifest_extra,
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str), encoding="utf-8")


def _expected_files(manifest: dict[str, Any], fmt: int) -> set[str]:
    if fmt == 1:
        return {f"{n}.npy" for n in (*V1_RANKER_ARRAYS, *PRIORS)} | {f"{n}.json" for n in JSONS}
    ranker_arrays = manifest.get("model", {}).get("arrays", [])
    cold = manifest.get("cold_start") or {}
    cold_arrays = [f"{role}.{n}" for role in ("profiles", "items") for n in (cold.get(role) or {}).get("arrays", [])]
    return (
        {f"{n}.npy" for n in PRIORS}
        | {f"cold.{n}.npy" for n in cold_arrays}
        | {f"ranker.{n}.npy" for n in ranker_arrays}
        | ({f"{n}.npy" for n in TRENDING_ARRAYS} if manifest.get("trending_history") else set())
        | {f"{n}.json" for n in (*JSONS, "online_blend")}
    )


def load_bundle(path: Path | str, mmap: bool = True) -> Bundle:
    """Load and verify a bundle folder; any missing file, unknown format or checksum mismatch raises
    `BundleError` naming the file."""
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{folder}: no {MANIFEST} (not a model bundle)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{manifest_path}: invalid JSON ({exc})") from exc
    fmt = manifest.get("format_version")
    if fmt not in (1, FORMAT_VERSION):
        raise BundleError(
            f"{manifest_path}: bundle format {fmt!r} is not supported (this Kepu reads formats 1 and "
            f"{FORMAT_VERSION}); retrain with `kepu train` or upgrade Kepu"
        )
    files: dict[str, str] = manifest.get("files") or {}
    expected = _expected_files(manifest, fmt)
    if not expected <= set(files):
        raise BundleError(f"{manifest_path}: manifest lacks file(s) {sorted(expected - set(files))}")
    for name, digest in files.items():
        file_path = folder / name
        if not file_path.is_file():
            raise BundleError(f"{file_path}: missing bundle file")
        if sha256_file(file_path) != digest:
            raise BundleError(f"{file_path}: sha256 mismatch (corrupt or modified bundle)")

    def array(name: str) -> np.ndarray:
        return np.load(folder / f"{name}.npy", mmap_mode="r" if mmap else None, allow_pickle=False)

    mapped_users = set(files) >= MAPPED_USER_IDS
    parsed = [n for n in JSONS if not (mapped_users and n == "user_ids")]  # 1M ids parse into ~150 MB
    docs = {n: json.loads((folder / f"{n}.json").read_text(encoding="utf-8")) for n in parsed}
    try:
        if fmt == 1:
            ranker = ranker_from_state("lightfm", {n: array(n) for n in V1_RANKER_ARRAYS}, manifest.get("params", {}))
            blend, cold = None, None
        else:
            model = manifest["model"]
            arrays = {n: array(f"ranker.{n}") for n in model["arrays"]}
            ranker = ranker_from_state(model["name"], arrays, model["params"])
            raw_blend = json.loads((folder / "online_blend.json").read_text(encoding="utf-8"))
            blend = OnlineBlend.from_json(raw_blend) if raw_blend else None
            cold = None
            if manifest.get("cold_start"):
                prefix = "cold."
                names = [f.removesuffix(".npy") for f in files if f.startswith(prefix) and f.endswith(".npy")]
                cold_arrays = {n[len(prefix) :]: array(n) for n in names}
                cold = ColdStart.from_state(cold_arrays, manifest["cold_start"])
    except (KeyError, TypeError, RankerError) as exc:
        raise BundleError(f"{manifest_path}: cannot restore the model ({exc})") from exc
    return Bundle(
        version=str(manifest["version"]),
        path=folder,
        manifest=manifest,
        item_map=IdMap(docs["item_ids"]),
        user_map=SortedIds.load(folder, "user_ids", mmap) if mapped_users else IdMap(docs["user_ids"]),
        ranker=ranker,
        arrays={n: array(n) for n in (*PRIORS, *TRENDING_ARRAYS) if f"{n}.npy" in files},
        user_features=UserFeatureBuilder.from_state(docs["user_features"]),
        item_features=ItemFeatureBuilder.from_state(docs["item_features"]),
        audiences=list(docs["audiences"]),
        blend=blend,
        cold=cold,
    )


def register(store: Any, bundle: Bundle) -> None:
    """Record the bundle in the store's model-version table (not activated)."""
    store.add_model_version(
        version=bundle.version,
        path=str(bundle.path),
        manifest=bundle.manifest,
        metrics=bundle.manifest.get("metrics", {}),
        checksum=bundle.checksum,
    )


def activate(store: Any, version: str) -> Bundle:
    """Verify the registered bundle loads cleanly, then make it the active version in the store."""
    versions = {v.version: v for v in store.list_model_versions()}
    if version not in versions:
        raise BundleError(f"model version {version!r} is not registered")
    bundle = load_bundle(versions[version].path)
    if versions[version].checksum and versions[version].checksum != bundle.checksum:
        raise BundleError(f"model version {version!r}: bundle checksum differs from the registered one")
    store.activate_model_version(version)
    return bundle


def load_active(store: Any) -> Bundle | None:
    """The store's active bundle, verified; None when no version is active."""
    active = store.active_model_version()
    return None if active is None else load_bundle(active.path)
