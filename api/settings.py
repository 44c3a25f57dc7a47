"""HTTP-layer settings (`KEPU_*` env vars): API keys with roles, public reads, CORS, body limit.

They extend the core `Settings` so one object configures the store, the models and the API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from api.roles import Role
from content_catalog.settings import Settings


class ApiSettings(Settings):
    """Settings for `create_app`. Keys may come inline (`KEPU_API_KEYS`) and/or from a JSON file."""

    model_config = SettingsConfigDict(env_prefix="KEPU_", extra="ignore")

    api_keys: Annotated[dict[str, Role], NoDecode] = Field(
        default_factory=dict,
        description='API key -> role, e.g. KEPU_API_KEYS=\'{"k1":"admin","k2":"editor"}\'',
    )
    api_keys_file: Path | None = Field(
        None, description="JSON file {key: role} merged into api_keys (keeps secrets out of the environment)"
    )
    public_reads: bool = Field(
        False, description="Allow reader endpoints (recommendations, items, search …) without an API key"
    )
    public_events: bool = Field(
        False, description="Allow POST /v1/events without a key (the museum widget posts impressions/clicks)"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed by CORS ('*' for any)"
    )
    max_body_bytes: int = Field(1_000_000, ge=1_024, description="Larger request bodies are refused with 413")
    max_query_bytes: int = Field(
        8_192, ge=256, le=60_000, description="Longer query strings are refused with 414 (JSON error, field query)"
    )
    max_events_per_batch: int = Field(1000, ge=1, le=100_000, description="Events accepted per POST /v1/events")
    cursor_secret: str | None = Field(
        None,
        description="Secret signing paging cursors. Unset: a random secret created once in the store "
        "(table app_secrets) and shared by every worker and host on that store",
    )
    model_sync_seconds: float = Field(
        5.0,
        ge=0,
        description="How often each worker checks the store for a model version another worker activated "
        "(0 = never: only this process's own activations swap the model)",
    )
    max_items_per_batch: int = Field(1000, ge=1, le=100_000, description="Items accepted per POST /v1/items:batch")
    retention_interval_seconds: float = Field(
        3_600.0,
        ge=0,
        description="How often each worker runs the retention purge (0 = never: use `kepu maintenance purge`)",
    )
    purge_batch_size: int = Field(1_000, ge=1, le=100_000, description="Rows deleted per transaction by the purge")
    log_user_ids: bool = Field(
        False,
        description="Keep user and session ids in access logs (default: replaced by '-'; client IPs never logged)",
    )
    snapshot_ttl_seconds: float = Field(
        3_600.0, gt=0, le=7 * 86_400, description="How long a feed cursor stays valid (its snapshot is kept)"
    )
    snapshot_max_stored: int = Field(
        20_000,
        ge=1,
        description="Feed snapshots kept in the store (≈ 18 KB each): older ones are deleted in the background "
        "and their cursors expire (docs/reliability.md)",
    )
    compute_threads: int = Field(
        1,
        ge=0,
        description="BLAS and faiss (OpenMP) threads per API worker, set once at start-up (0 = the libraries' "
        "defaults: one per core in every worker, which oversubscribes the cores with --workers > 1)",
    )
    public_reads_per_minute: float = Field(
        600, ge=0, description="Anonymous reads allowed per client and minute, per worker (0 = no limit; keyed calls "
        "are never limited)"
    )
    public_reads_burst: int = Field(60, ge=1, description="Anonymous reads a client may make at once")
    public_events_per_minute: float = Field(
        120, ge=0, description="Anonymous POST /v1/events per client and minute, per worker (0 = no limit)"
    )
    public_events_burst: int = Field(30, ge=1, description="Anonymous event posts a client may make at once")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys_from_json(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"KEPU_API_KEYS must be a JSON object {{key: role}}: {exc}") from exc
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins_from_csv(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @model_validator(mode="after")
    def _merge_keys_file(self) -> ApiSettings:
        if self.api_keys_file is None:
            return self
        path = Path(self.api_keys_file)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ValueError(f"api_keys_file {path} does not exist") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"api_keys_file {path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        if not isinstance(raw, dict):
            raise ValueError(f"api_keys_file {path}: expected a JSON object {{key: role}}")
        merged = dict(self.api_keys)
        for key, role in raw.items():
            try:
                merged[str(key)] = Role.parse(role)
            except ValueError as exc:
                raise ValueError(f"api_keys_file {path}: key {str(key)[:4]}…: {exc}") from exc
        self.api_keys = merged
        return self
