"""Model versions: list the registered bundles and activate one (atomic swap, admin only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from api.deps import Admin, Editor, MetricsDep, ProviderDep, StoreDep
from api.errors import ApiError
from api.schemas import ModelsOut, ModelVersionOut
from api.service_provider import ActivationError

router = APIRouter(prefix="/v1", tags=["models"])
VersionPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.\-]{1,100}$", description="model version")]


def _model_name(manifest: dict[str, Any]) -> str | None:
    """Format-2 manifests hold {"name": …}; format-1 ones a plain string."""
    model = manifest.get("model")
    return model.get("name") if isinstance(model, dict) else model


@router.get("/models", response_model=ModelsOut, summary="Registered model versions")
def list_models(_: Editor, store: StoreDep, provider: ProviderDep) -> ModelsOut:
    return ModelsOut(
        models=[
            ModelVersionOut(
                version=v.version,
                active=v.active,
                created_at=v.created_at,
                path=v.path,
                checksum=v.checksum,
                metrics=dict(v.metrics),
                model=_model_name(v.manifest),
                selection=dict(v.manifest.get("selection") or {}),
                data_counts=dict(v.manifest.get("data_counts") or {}),
            )
            for v in store.list_model_versions()
        ],
        serving=provider.version(),
    )


@router.post(
    "/models/{version}:activate",
    response_model=ModelsOut,
    summary="Verify a bundle's checksums and make it the serving version",
    description="Atomic swap: requests already ranking finish on the old bundle; open cursors keep paging.",
)
def activate_model(
    version: VersionPath, caller: Admin, store: StoreDep, provider: ProviderDep, metrics: MetricsDep
) -> ModelsOut:
    try:
        provider.activate(version, actor=caller.actor)  # the store audits the activation (once)
    except ActivationError as exc:
        metrics.model_activations.labels(outcome="refused").inc()
        code = "not_found" if exc.status == 404 else "bundle_invalid"
        raise ApiError(exc.status, exc.message, code=code, field="path.version") from exc
    metrics.model_activations.labels(outcome="activated").inc()
    metrics.set_model(provider.version())
    return list_models(caller, store, provider)
