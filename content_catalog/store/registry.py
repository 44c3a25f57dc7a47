"""Model versions (exactly one active, switched atomically) and built vector-index versions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from content_catalog.store.base import StoreBase
from content_catalog.store.errors import ConflictError, NotFoundError
from content_catalog.store.models import ExperimentRow, ModelVersionRow, VectorIndexVersionRow
from content_catalog.store.records import ModelVersion, VectorIndexVersion
from content_catalog.store.types import utc_now


class RegistryMixin(StoreBase):
    """Model and vector-index version methods of the Store.

    At most one model version is active; the database enforces it with a partial unique index, and
    `activate_model_version` flips the flag in one transaction, so readers never see zero-then-one or two.
    """

    def add_model_version(
        self,
        version: str,
        path: str,
        *,
        manifest: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        checksum: str | None = None,
        activate: bool = False,
        actor: str = "train",
    ) -> ModelVersion:
        """Register a trained bundle (optionally making it the active one). Duplicate versions conflict."""
        if not version or len(version) > 100:
            raise ValueError("version: must be 1-100 characters")
        with self._write() as session:
            if session.scalar(select(ModelVersionRow.id).where(ModelVersionRow.version == version)) is not None:
                raise ConflictError(f"version: model version {version!r} already exists")
            if activate:
                _lock_all_versions(session)
                session.execute(update(ModelVersionRow).where(ModelVersionRow.active.is_(True)).values(active=False))
            row = ModelVersionRow(
                version=version,
                path=path,
                created_at=utc_now(),
                manifest=manifest or {},
                metrics=metrics or {},
                checksum=checksum,
                active=activate,
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError as exc:  # a concurrent writer registered the same version first
                raise ConflictError(f"version: model version {version!r} already exists") from exc
            self._audit(session, actor, "models.add", f"model:{version}", {"path": path, "activate": activate})
            return _model(row)

    def list_model_versions(self) -> list[ModelVersion]:
        """All registered versions, newest first."""
        query = select(ModelVersionRow).order_by(ModelVersionRow.created_at.desc(), ModelVersionRow.id.desc())
        with self._read() as session:
            return [_model(row) for row in session.scalars(query)]

    def activate_model_version(self, version: str, actor: str = "admin") -> ModelVersion:
        """Make `version` the only active version (atomically); NotFoundError when it is unknown."""
        with self._write() as session:
            _lock_all_versions(session)
            row = session.scalar(select(ModelVersionRow).where(ModelVersionRow.version == version).with_for_update())
            if row is None:
                raise NotFoundError(f"model version {version!r} not found")
            session.execute(
                update(ModelVersionRow)
                .where(ModelVersionRow.active.is_(True), ModelVersionRow.id != row.id)
                .values(active=False)
            )
            session.execute(update(ModelVersionRow).where(ModelVersionRow.id == row.id).values(active=True))
            self._audit(session, actor, "models.activate", f"model:{version}", None)
            session.refresh(row)
            return _model(row)

    def delete_model_version(self, version: str, actor: str = "admin") -> ModelVersion:
        """Unregister a version (audited) and return its record, so the caller can delete its folder —
        old bundles hold the ids and vectors of the people they were trained on. The active version and
        versions an active experiment serves cannot be deleted (ConflictError); unknown: NotFoundError."""
        with self._write() as session:
            _lock_all_versions(session)
            row = session.scalar(select(ModelVersionRow).where(ModelVersionRow.version == version))
            if row is None:
                raise NotFoundError(f"model version {version!r} not found")
            if row.active:
                raise ConflictError(f"version: {version!r} is the active model version; activate another first")
            for name, params in session.execute(
                select(ExperimentRow.name, ExperimentRow.params).where(ExperimentRow.active.is_(True))
            ):
                if any((p or {}).get("model_version") == version for p in (params or {}).values()):
                    raise ConflictError(f"version: {version!r} is served by the active experiment {name!r}")
            record = _model(row)
            session.execute(delete(ModelVersionRow).where(ModelVersionRow.id == row.id))
            self._audit(session, actor, "models.delete", f"model:{version}", {"path": row.path})
            return record

    def active_model_version(self) -> ModelVersion | None:
        """The active version, or None before any activation."""
        with self._read() as session:
            row = session.scalar(select(ModelVersionRow).where(ModelVersionRow.active.is_(True)))
            return None if row is None else _model(row)

    def add_vector_index_version(
        self, encoder: str, catalog_version: str, path: str, item_count: int
    ) -> VectorIndexVersion:
        """Record a built vector index and the `catalog_version()` it was built from."""
        row = VectorIndexVersionRow(
            encoder=encoder,
            catalog_version=catalog_version,
            path=path,
            item_count=item_count,
            created_at=utc_now(),
        )
        with self._write() as session:
            session.add(row)
        return _index(row)

    def vector_index_versions(self, encoder: str, limit: int = 10) -> list[VectorIndexVersion]:
        """The `limit` most recently built indexes for `encoder`, newest first (a loader falls back along it)."""
        query = (
            select(VectorIndexVersionRow)
            .where(VectorIndexVersionRow.encoder == encoder)
            .order_by(VectorIndexVersionRow.created_at.desc(), VectorIndexVersionRow.id.desc())
            .limit(limit)
        )
        with self._read() as session:
            return [_index(row) for row in session.scalars(query)]

    def latest_vector_index_version(self, encoder: str) -> VectorIndexVersion | None:
        """The most recently built index for `encoder` (compare its catalog_version to decide staleness)."""
        query = (
            select(VectorIndexVersionRow)
            .where(VectorIndexVersionRow.encoder == encoder)
            .order_by(VectorIndexVersionRow.created_at.desc(), VectorIndexVersionRow.id.desc())
            .limit(1)
        )
        with self._read() as session:
            row = session.scalar(query)
            return None if row is None else _index(row)


def _lock_all_versions(session: Session) -> None:
    """Serialise activations: without it two concurrent ones on PostgreSQL each see no other active row
    and the second trips the one-active index. (SQLite write transactions are serial already.)"""
    # In id order: rows locked in heap order could deadlock, as updates move rows around the heap.
    session.execute(select(ModelVersionRow.id).order_by(ModelVersionRow.id).with_for_update()).all()


def _model(row: ModelVersionRow) -> ModelVersion:
    return ModelVersion(
        version=row.version,
        path=row.path,
        created_at=row.created_at,
        manifest=dict(row.manifest or {}),
        metrics=dict(row.metrics or {}),
        checksum=row.checksum,
        active=bool(row.active),
    )


def _index(row: VectorIndexVersionRow) -> VectorIndexVersion:
    return VectorIndexVersion(
        encoder=row.encoder,
        catalog_version=row.catalog_version,
        path=row.path,
        item_count=row.item_count,
        created_at=row.created_at,
    )
