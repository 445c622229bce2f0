"""All run-time settings in one class, read from CONTENTFLOW_* environment variables.

Emulators are reached only through the clients' standard variables (PUBSUB_EMULATOR_HOST,
FIRESTORE_EMULATOR_HOST, STORAGE_EMULATOR_HOST): nothing here knows whether it runs locally.
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contentflow.extraction.limits import ExtractionLimits
from contentflow.inference.options import InferenceOptions
from contentflow.spec import PipelineSpec, bucket_name, load_spec


class UrlFetchSettings(BaseModel):
    """Fetching a submitted URL (contentflow.urlfetch): caps, and the loopback switch that only a
    local test sets (never private ranges, never by default)."""

    max_bytes: int = Field(default=25 * 1024 * 1024, ge=1)
    timeout_s: float = Field(default=30.0, gt=0, le=240)
    max_redirects: int = Field(default=5, ge=0, le=10)
    max_attempts: int = Field(default=5, ge=1, le=100)
    allow_loopback: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONTENTFLOW_", env_nested_delimiter="__", frozen=True)

    project_id: str = Field(min_length=6, max_length=30, pattern=r"^[a-z][a-z0-9-]+$")
    spec_path: str | None = None  # None: the spec shipped with the code
    region: str = "us-central1"  # where the Cloud Tasks queues live
    collection: str = "documents"
    jobs_collection: str = "jobs"  # progress of resumable jobs (the backfill's cursor)
    reports_collection: str = "reports"  # the daily reports, one document per UTC day (YYYY-MM-DD)
    log_level: str = "INFO"

    # Every downstream call has a deadline (seconds).
    firestore_timeout_s: float = 10.0
    storage_timeout_s: float = 60.0
    publish_timeout_s: float = 10.0

    # The api function: largest body it accepts (inline text or a small file).
    api_max_upload_bytes: int = 10 * 1024 * 1024
    # Production: from Secret Manager (a secret env var); unset, the api is open (the local stack).
    # An empty key is refused at start-up: it must never be matched by a missing header.
    api_key: SecretStr | None = None
    idempotency_collection: str = "idempotency"  # first answers to POSTs with an Idempotency-Key
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=60)
    # Signed upload URLs (POST /uploads): how long one is valid, and who signs. Production signs
    # through IAM signBlob as the api's own service account (no key file): `upload_signer_email`.
    upload_url_ttl_s: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    upload_max_bytes: int = Field(default=5 * 1024 * 1024 * 1024, ge=1)
    upload_signer_email: str | None = None
    # Local stack only (fake-gcs-server does not verify signatures): a throwaway key it generates.
    # Unset in production, where IAM signBlob signs.
    upload_signing_key_file: str | None = None
    url_fetch: UrlFetchSettings = Field(default_factory=UrlFetchSettings)
    # Base URL under which HTTP functions are reached by name (Cloud Tasks targets, scheduler).
    # Production: https://REGION-PROJECT.cloudfunctions.net ; local: set by the local stack.
    function_urls: dict[str, str] = Field(default_factory=dict)
    # The service account whose OIDC token Cloud Tasks sends to queue-triggered functions.
    tasks_service_account: str | None = None

    extraction: ExtractionLimits = Field(default_factory=ExtractionLimits)
    inference: InferenceOptions = Field(default_factory=InferenceOptions)

    @field_validator("api_key")
    @classmethod
    def _key_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("CONTENTFLOW_API_KEY is set but empty: unset it (open api) or give a key")
        return value

    @property
    def spec(self) -> PipelineSpec:
        return load_spec(self.spec_path)

    def bucket(self, bucket_id: str) -> str:
        if bucket_id not in self.spec.buckets:
            raise KeyError(f"no bucket {bucket_id!r} in the pipeline spec")
        return bucket_name(self.project_id, bucket_id)


@cache
def get_settings() -> Settings:
    return Settings()
