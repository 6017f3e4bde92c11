"""One settings object for the whole server (environment variables with the ``HORTUS_`` prefix)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything Hortus can be configured with.

    Every field reads ``HORTUS_<NAME>`` (nested fields use ``__``), e.g. ``HORTUS_DATA_DIR``,
    ``HORTUS_DATABASE_URL``. Defaults give an embedded, offline server: a SQLite file and the
    packaged models inside the data directory.
    """

    model_config = SettingsConfigDict(
        env_prefix="HORTUS_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(default=Path("hortus-data"), description="Where Hortus keeps its files.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file hortus.db in data_dir."
    )
    environment: str = Field(default="development", description="development, test or production.")
    secret_key: str | None = Field(
        default=None, description="Signs session cookies; generated into data_dir when unset."
    )
    load_starter_data: bool = Field(
        default=True, description="Load the packaged starter knowledge base on first start."
    )
    # Vision engine
    models_dir: Path = Field(
        default=Path(""), description="Backbone and trained projects; default: data_dir/models."
    )
    inference_threads: int = Field(
        default=1, ge=1, le=64, description="ONNX Runtime intra-op threads."
    )
    inference_workers: int = Field(
        default=2, ge=1, le=64, description="Concurrent inferences per process."
    )
    warm_up_engine: bool = Field(
        default=True, description="Load the vision engine in the background at start-up."
    )
    # Quotas (defaults; per-account overrides live in the database)
    identify_per_day: int = Field(default=500, ge=0)
    analysis_per_month: int = Field(default=5000, ge=0)
    plants_per_day: int = Field(default=10000, ge=0)
    # Identification by image URL (GET /v2/identify) is off unless an operator enables it.
    identify_by_url: bool = False
    url_fetch_allow: list[str] = Field(default_factory=list)
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @cached_property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hortus.db'}"

    def model_post_init(self, _context: object) -> None:
        if self.models_dir == Path(""):
            self.models_dir = self.data_dir / "models"
        self.models_dir = self.models_dir.expanduser().resolve()

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.models_dir, self.media_dir, self.cache_dir):
            path.mkdir(parents=True, exist_ok=True)


def get_settings() -> Settings:
    """Settings read from the environment now (cheap; call once per process or per command)."""
    return Settings()
