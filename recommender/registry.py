"""Model bundles on disk: a versioned folder of arrays + JSON, and a `manifest.json` with data counts,
params, metrics, seed, created_at and the sha256 of every file. `load_bundle` verifies every checksum
(a corrupt or edited bundle raises `BundleError`); arrays are memory-mapped so processes share them.
Activation goes through the store's model-version table (an atomic flag flip there).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from features.idmap import IdMap
from features.item_features import ItemFeatureBuilder
from features.user_features import UserFeatureBuilder

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
ARRAYS = (
    "item_embeddings",
    "item_biases",
    "user_embeddings",
    "user_biases",
    "user_feature_embeddings",
    "user_feature_biases",
    "item_feature_embeddings",
    "item_feature_biases",
    "popularity",
    "trending",
    "user_counts",
)
JSONS = ("item_ids", "user_ids", "user_features", "item_features", "audiences")


class BundleError(ValueError):
    """A model bundle is missing, incomplete or fails its checksums."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Bundle:
    """Everything the online path needs from one trained version.

    Shapes: item_embeddings (n_items, d), user_embeddings (n_users, d), *_feature_embeddings
    (n_feature_columns, d) for cold users / unseen items, popularity (n_audiences, n_items) in
    `audiences` order, trending (n_items,), user_counts (n_users,) = training interactions per user.
    """

    version: str
    path: Path | None
    manifest: dict[str, Any]
    item_map: IdMap
    user_map: IdMap
    arrays: dict[str, np.ndarray]
    user_features: UserFeatureBuilder
    item_features: ItemFeatureBuilder
    audiences: list[str]
    _item_matrix: np.ndarray | None = field(default=None, repr=False)

    @property
    def checksum(self) -> str:
        """sha256 over the manifest's per-file checksums (identifies the bundle's exact content)."""
        files = self.manifest.get("files", {})
        return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()

    @property
    def item_matrix(self) -> np.ndarray:
        """(n_items, d + 2) = [embedding, 1, bias]; a user row [embedding, bias, 1] dotted with it is the
        LightFM score (computed once per bundle, then one matrix-vector product per request)."""
        if self._item_matrix is None:
            emb = np.asarray(self.arrays["item_embeddings"], dtype=np.float32)
            bias = np.asarray(self.arrays["item_biases"], dtype=np.float32)[:, None]
            self._item_matrix = np.hstack([emb, np.ones_like(bias), bias])
        return self._item_matrix

    def user_vector(self, user_key: str) -> np.ndarray | None:
        row = self.user_map.get(user_key)
        if row < 0:
            return None
        emb = np.asarray(self.arrays["user_embeddings"][row], dtype=np.float32)
        return np.concatenate([emb, [float(self.arrays["user_biases"][row]), 1.0]]).astype(np.float32)

    def user_interactions(self, user_key: str) -> int:
        row = self.user_map.get(user_key)
        return 0 if row < 0 else int(self.arrays["user_counts"][row])

    def cold_user_vector(self, feature_row: sp.spmatrix) -> np.ndarray:
        """A user known only by features (anonymous / registered after training): normalised row ·
        feature embeddings, exactly how LightFM builds representations."""
        return _compose(
            feature_row,
            self.arrays["user_feature_embeddings"],
            self.arrays["user_feature_biases"],
            bias_last=False,
        )

    def cold_item_matrix(self, feature_rows: sp.spmatrix) -> np.ndarray:
        """(n, d + 2) item rows from features only, for items the model has never seen."""
        return _compose(
            feature_rows,
            self.arrays["item_feature_embeddings"],
            self.arrays["item_feature_biases"],
            bias_last=True,
        )

    def popularity_for(self, audience: str) -> np.ndarray:
        if audience not in self.audiences:
            raise ValueError(f"audience {audience!r} not in bundle audiences {self.audiences}")
        return np.asarray(self.arrays["popularity"][self.audiences.index(audience)])


def _compose(rows: sp.spmatrix, emb: np.ndarray, bias: np.ndarray, bias_last: bool) -> np.ndarray:
    matrix = sp.csr_matrix(rows, dtype=np.float32)
    if matrix.shape[1] != emb.shape[0]:
        raise ValueError(f"feature rows have {matrix.shape[1]} columns, bundle has {emb.shape[0]}")
    sums = np.asarray(np.abs(matrix).sum(axis=1)).ravel()
    matrix = sp.diags(np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)) @ matrix
    e = np.asarray(matrix @ np.asarray(emb, dtype=np.float32), dtype=np.float32)
    b = np.asarray(matrix @ np.asarray(bias, dtype=np.float32), dtype=np.float32).reshape(-1, 1)
    ones = np.ones_like(b)
    out = np.hstack([e, ones, b] if bias_last else [e, b, ones])
    return out[0] if not bias_last else out


def save_bundle(
    out_dir: Path,
    version: str,
    *,
    arrays: dict[str, np.ndarray],
    item_map: IdMap,
    user_map: IdMap,
    user_features: UserFeatureBuilder,
    item_features: ItemFeatureBuilder,
    audiences: list[str],
    manifest_extra: dict[str, Any],
) -> Path:
    """Write `out_dir/<version>/` and its manifest; refuses to overwrite an existing version. Files are
    written into a hidden temporary folder first and renamed into place at the end."""
    missing = [name for name in ARRAYS if name not in arrays]
    if missing:
        raise BundleError(f"save_bundle: missing array(s) {missing}")
    final = Path(out_dir) / version
    if final.exists():
        raise BundleError(f"save_bundle: {final} already exists (versions are immutable)")
    final.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=final.parent))  # renamed when complete
    try:
        _write_files(
            folder,
            version,
            arrays,
            manifest_extra,
            {
                "item_ids": item_map.to_list(),
                "user_ids": user_map.to_list(),
                "user_features": user_features.get_state(),
                "item_features": item_features.get_state(),
                "audiences": audiences,
            },
        )
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
    for name in ARRAYS:
        np.save(folder / f"{name}.npy", np.ascontiguousarray(arrays[name]), allow_pickle=False)
    for name, doc in docs.items():
        (folder / f"{name}.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir())}
    manifest = {
        "format_version": FORMAT_VERSION,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        **manifest_extra,
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str), encoding="utf-8")


def load_bundle(path: Path | str, mmap: bool = True) -> Bundle:
    """Load and verify a bundle folder; any missing file or checksum mismatch raises `BundleError`."""
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{folder}: no {MANIFEST} (not a model bundle)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{manifest_path}: invalid JSON ({exc})") from exc
    files: dict[str, str] = manifest.get("files") or {}
    expected = {f"{n}.npy" for n in ARRAYS} | {f"{n}.json" for n in JSONS}
    if not expected <= set(files):
        raise BundleError(f"{manifest_path}: manifest lacks file(s) {sorted(expected - set(files))}")
    for name, digest in files.items():
        file_path = folder / name
        if not file_path.is_file():
            raise BundleError(f"{file_path}: missing bundle file")
        if sha256_file(file_path) != digest:
            raise BundleError(f"{file_path}: sha256 mismatch (corrupt or modified bundle)")
    arrays = {n: np.load(folder / f"{n}.npy", mmap_mode="r" if mmap else None, allow_pickle=False) for n in ARRAYS}
    docs = {n: json.loads((folder / f"{n}.json").read_text(encoding="utf-8")) for n in JSONS}
    return Bundle(
        version=str(manifest["version"]),
        path=folder,
        manifest=manifest,
        item_map=IdMap(docs["item_ids"]),
        user_map=IdMap(docs["user_ids"]),
        arrays=arrays,
        user_features=UserFeatureBuilder.from_state(docs["user_features"]),
        item_features=ItemFeatureBuilder.from_state(docs["item_features"]),
        audiences=list(docs["audiences"]),
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
