"""Runtime settings from `KEPU_*` environment variables (pydantic-settings), with documented defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All knobs in one place. Every field can be set as `KEPU_<FIELD>` (e.g. `KEPU_STORE_URL`)."""

    model_config = SettingsConfigDict(env_prefix="KEPU_", extra="ignore")

    var_dir: Path = Field(Path("./var"), description="Working folder for the SQLite store, indexes and models")
    store_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<var_dir>/kepu.db. PostgreSQL: postgresql+psycopg2://…"
    )
    encoder: str = Field(
        "hybrid",
        description="'hybrid' (default: tfidf-svd + use-multilingual), 'tfidf-svd' (light fallback), "
        "'use-multilingual' or 'sentence-transformers:<path-or-hub-name>'",
    )
    encoder_dim: int = Field(
        256, ge=8, le=4096, description="Dimension of the tfidf-svd encoder (and of hybrid's tfidf-svd part)"
    )
    encoder_device: str = Field("cpu", description="Torch device for sentence-transformers")
    hnsw_threshold: int = Field(100_000, ge=1, description="Use an HNSW faiss index above this many items")
    data_dir: Path | None = Field(None, description="Folder with the evaluation data sets (../shared/data)")
    cache_dir: Path | None = Field(None, description="Folder for rebuildable caches (jieba's); default <var_dir>/cache")
    seed: int = 42
    id_pepper: SecretStr | None = Field(
        None,
        description="Secret key: client user and session ids are stored as HMAC-SHA256(pepper, id), never raw "
        "(set it before the first event is stored and never change it; see docs/privacy.md)",
    )
    event_retention_days: int = Field(
        365, ge=0, description="Events and feed snapshots older than this many days are purged (0 = keep forever)"
    )

    @property
    def resolved_store_url(self) -> str:
        """The store URL, defaulting to a SQLite file under `var_dir`."""
        return self.store_url or f"sqlite:///{(self.var_dir / 'kepu.db').as_posix()}"

    @property
    def models_dir(self) -> Path:
        return self.var_dir / "models"

    @property
    def index_dir(self) -> Path:
        return self.var_dir / "index"

    @property
    def resolved_cache_dir(self) -> Path:
        """Where caches go: `cache_dir`, or `<var_dir>/cache`, so run-time files stay under the var dir."""
        return self.cache_dir or self.var_dir / "cache"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process (tests build `Settings(...)` directly instead)."""
    return Settings()
