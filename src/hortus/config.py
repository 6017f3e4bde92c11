"""One settings object for the whole server (environment variables with the ``HORTUS_`` prefix)."""

from __future__ import annotations

import ipaddress
import json
from functools import cached_property
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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
    backbone: str | None = Field(
        default=None,
        description="The image backbone that serves and trains: the name of a directory under "
                    "models_dir/backbones/ (e.g. efficientnet-lite0-plants, made by `hortus "
                    "backbone tune`), or the path of one (model.onnx + manifest.json). Unset: "
                    "the packaged EfficientNet-Lite0, converted there on first use. Heads "
                    "fitted on another backbone load with a warning and answer badly: train "
                    "them again (docs/backbone-tuning.md).",
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
    projects_refresh_interval: float = Field(
        default=2.0, ge=0, le=86400,
        description="Seconds between checks, made as requests arrive, that a project's active "
                    "version is still the one loaded: a version activated or rolled back by "
                    "another process (hortus projects update/rollback/activate) is served "
                    "within this delay, without a restart. 0: never check.",
    )
    memory_release_idle: float = Field(
        default=5.0, ge=0, le=86400,
        description="Seconds without inference after which the process gives back the memory "
                    "its photos used (ONNX Runtime's activation arena, freed malloc heaps); "
                    "the next photo then takes ~3 ms more. 0: never (docs/operations.md, "
                    "\"Memory\").",
    )
    # Media: where stored photos live (docs/media.md)
    media_backend: str = Field(
        default="auto", pattern="^(auto|local|database|s3)$",
        description="local: data_dir/media; database: rows of the database (for several "
                    "processes on one PostgreSQL); s3: an S3-compatible bucket. auto: database "
                    "on PostgreSQL, local on SQLite.",
    )
    media_s3_bucket: str | None = Field(default=None, description="Bucket of the s3 backend.")
    media_s3_prefix: str = Field(default="", description="Object-name prefix in the bucket.")
    media_s3_endpoint_url: str | None = Field(
        default=None, description="An S3-compatible server's URL; unset: AWS S3."
    )
    media_s3_region: str | None = Field(default=None, description="The bucket's region.")
    media_s3_access_key_id: str | None = Field(
        default=None, description="Unset: boto3's usual chain (AWS_* variables, ~/.aws, roles)."
    )
    media_s3_secret_access_key: SecretStr | None = Field(default=None)
    # Quotas (defaults; per-account overrides live in the database)
    identify_per_day: int = Field(default=500, ge=0)
    analysis_per_month: int = Field(default=5000, ge=0)
    plants_per_day: int = Field(default=10000, ge=0)
    web_identify_visitor_per_day: int = Field(
        default=5, ge=0, le=100_000,
        description="Identifications a signed-out visitor may make a day (UTC) on the web "
                    "identify page, counted per client address (an IPv6 address by its /64); "
                    "0: sign in to identify. All visitors together also share one account's "
                    "daily quota (docs/web.md).",
    )
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    # Limits on image work, whatever the answer (docs/operations.md). A photo's pixels are
    # checked from its header before any is decoded; 50,000,000 is the decoder's own cap.
    max_image_pixels: int = Field(
        default=50_000_000, ge=65_536, le=50_000_000,
        description="Pixels of a photo the decoder reads at reduced scale (baseline JPEG: "
                    "memory follows the 1/8-scale output, ~0.1 s at 50 MP).",
    )
    max_full_decode_pixels: int = Field(
        default=16_000_000, ge=65_536, le=50_000_000,
        description="Pixels of a photo that must be decoded in full (PNG, WebP, progressive "
                    "or multi-scan JPEG): 3-16 bytes and 7-50 ns of CPU per pixel.",
    )
    image_work_per_account: int = Field(
        default=2, ge=0, le=1000,
        description="Per process: identification/analysis requests one account may have doing "
                    "image work at once, and photos it may have decoding or embedding at once "
                    "(0: no limit).",
    )
    image_work_wait: float = Field(
        default=10.0, ge=0, le=600,
        description="Seconds a further request of that account waits for a place (at most 4x "
                    "image_work_per_account of them wait) before a 429 with Retry-After.",
    )
    # Identification (Pl@ntNet /v2): project ids, and photos given by URL (docs/identify.md)
    project_aliases: dict[str, str] = Field(
        default_factory=dict,
        description='Project ids answered by a local project, as JSON: {"k-world-flora": '
                    '"flowers"}. Pl@ntNet ids not listed are answered by "all".',
    )
    identify_by_url: bool = Field(
        default=True, description="GET /v2/identify/{project}?images=URL fetches the photos."
    )
    identify_url_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Fetch images only from these hosts (comma-separated or JSON; "
                    '"*.example.org": it and its subdomains). Empty: any public host.',
    )
    identify_url_max_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Size cap of one image fetched by URL."
    )
    identify_url_timeout: float = Field(
        default=10.0, gt=0, le=120,
        description="Seconds to fetch one image by URL (DNS, redirects and body included).",
    )
    identify_url_test_loopback: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="FOR TESTS ONLY: loopback addresses (e.g. 127.0.0.1) that image URLs may "
                    "point to. Never set this on a server.",
    )
    # Operations: connection limits and timeouts, sign-in throttling, logs, metrics,
    # durability (docs/operations.md)
    max_header_bytes: int = Field(
        default=64 * 1024, ge=4096, le=16 * 1024 * 1024,
        description="Request line plus headers of one request; more gets 431 and a close.",
    )
    header_timeout: float = Field(
        default=10.0, gt=0, le=600,
        description="Seconds from a connection's first byte (or its opening) to the end of the "
                    "request's headers; then 408 and a close.",
    )
    body_timeout: float = Field(
        default=30.0, gt=0, le=3600,
        description="Seconds a request body may pause between two reads; then 408 and a close.",
    )
    keep_alive_timeout: float = Field(
        default=5.0, gt=0, le=600, description="Seconds an idle keep-alive connection stays open.",
    )
    shutdown_timeout: float = Field(
        default=30.0, ge=0, le=3600,
        description="On SIGTERM, seconds in-flight requests get to finish before they are cut.",
    )
    web_form_max_bytes: int = Field(
        default=16 * 1024, ge=1024,
        description="Body cap of the web pages' forms (sign-in, sign-up, key settings); the "
                    "identification page's photo form takes max_upload_bytes.",
    )
    sign_in_free_failures: int = Field(
        default=5, ge=1, le=1000,
        description="Failed sign-ins an account (or, x4, an address) may make before delays.",
    )
    sign_in_max_delay: float = Field(
        default=60.0, ge=1, le=86400,
        description="Longest wait imposed on an account after failed sign-ins (an address "
                    "waits at most 10x this).",
    )
    sign_ups_per_hour: int = Field(
        default=10, ge=1, le=100000, description="Sign-ups one IP address may make per hour.",
    )
    password_hash_concurrency: int = Field(
        default=1, ge=1, le=64,
        description="Password hashes computed at once per process (argon2id: ~30 ms, 19 MiB).",
    )
    log_format: str = Field(
        default="auto", pattern="^(auto|json|text)$",
        description="json: one JSON object a line (with request_id), for log collectors; text: "
                    "for a terminal; auto: text when the log goes to a terminal, else json.",
    )
    access_log: bool = Field(default=True, description="Log one line per request.")
    metrics: bool = Field(default=True, description="Serve Prometheus metrics at /metrics.")
    sqlite_synchronous: str = Field(
        default="NORMAL", pattern="^(NORMAL|FULL)$",
        description="NORMAL: a power cut may lose the last commits (never corrupts); FULL: an "
                    "fsync per commit, nothing acknowledged is lost.",
    )
    # Behind a reverse proxy (docs/operations.md, "Behind a reverse proxy")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or CIDR ranges of the reverse proxies in front of Hortus "
                    "(comma-separated or JSON). Only a request whose peer is one of them has "
                    "its forwarding headers read. Empty: none is read.",
    )
    forwarded_header: str = Field(
        default="x-forwarded-for", pattern="^(x-forwarded-for|forwarded)$",
        description="Which headers the trusted proxies set: x-forwarded-for (with "
                    "X-Forwarded-Proto and X-Forwarded-Host) or forwarded (RFC 7239). The "
                    "other kind is ignored, whoever sends it.",
    )
    public_url: str | None = Field(
        default=None,
        description="The address people and clients use, e.g. https://plants.example.org: the "
                    "scheme and host of every absolute URL Hortus writes; https also marks "
                    "session cookies Secure. Unset: taken from each request.",
    )
    # Stored analyses (docs/operations.md, "Stored analyses")
    analysis_max_age_days: int = Field(
        default=365, ge=0, le=100_000,
        description="Stored analyses (row and picture) older than this many days are deleted "
                    "(0: no age limit).",
    )
    analysis_max_total_bytes: int = Field(
        default=10 * 1024**3, ge=0,
        description="Most bytes of analysis pictures kept; past it the oldest analyses are "
                    "deleted first (0: no size limit).",
    )
    analysis_sweep_interval: float = Field(
        default=600.0, ge=1, le=7 * 86400,
        description="Seconds between two retention sweeps of a running server (the first "
                    "runs at start).",
    )

    # Observations and community review (docs/observations.md)
    review_ai_vote: str = Field(
        default="off", pattern="^(off|fixed|invalidating|confident)$",
        description="The AI's vote in the label aggregation of observations: off; fixed "
                    "(weight 1.7 in the label, confidence and accuracy); invalidating "
                    "(confidence and accuracy only, never the label); confident (as fixed, "
                    "only when its calibrated probability is >= 0.7). It never validates an "
                    "observation alone. A change recomputes every label at the next vote.",
    )

    @field_validator("identify_url_hosts", "identify_url_test_loopback", "trusted_proxies",
                     mode="before")
    @classmethod
    def _list_of_names(cls, value: object) -> object:
        """A JSON list, or names separated by commas (``a.org,b.org``)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("identify_url_test_loopback")
    @classmethod
    def _only_loopback(cls, value: list[str]) -> list[str]:
        for address in value:
            if not ipaddress.ip_address(address).is_loopback:
                raise ValueError(f"{address!r} is not a loopback address")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        """Each entry as a network in canonical form (``10.0.0.5`` → ``10.0.0.5/32``)."""
        networks = []
        for entry in value:
            try:
                networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR range") from None
        return networks

    @field_validator("public_url")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        """``scheme://host[:port]``, nothing after it (no path: Hortus serves from ``/``)."""
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or \
                parts.path not in ("", "/") or parts.query or parts.fragment or \
                parts.username or parts.password:
            raise ValueError(f"{value!r} is not a URL such as https://plants.example.org "
                             "(scheme and host, with an optional port, nothing after them)")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError(f"{value!r} has an invalid port") from None
        return f"{parts.scheme}://{parts.netloc.lower()}"

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
    def backbone_dir(self) -> Path | None:
        """The chosen backbone's directory (``None``: the packaged Lite0). A bare name is
        a directory under ``models_dir/backbones``; anything with a slash is a path."""
        name = (self.backbone or "").strip()
        if not name:
            return None
        if "/" not in name and "\\" not in name and name not in (".", "..", "~"):
            return self.models_dir / "backbones" / name
        return Path(name).expanduser().resolve()

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
