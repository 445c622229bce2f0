"""All run-time settings in one class, read from CONTENTFLOW_* environment variables.

Emulators are reached only through the clients' standard variables (PUBSUB_EMULATOR_HOST,
FIRESTORE_EMULATOR_HOST, STORAGE_EMULATOR_HOST): nothing here knows whether it runs locally.
"""

from __future__ import annotations

from functools import cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from contentflow.extraction.limits import ExtractionLimits
from contentflow.inference.options import InferenceOptions
from contentflow.spec import PipelineSpec, bucket_name, load_spec


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONTENTFLOW_", env_nested_delimiter="__", frozen=True)

    project_id: str = Field(min_length=6, max_length=30, pattern=r"^[a-z][a-z0-9-]+$")
    spec_path: str | None = None  # None: the spec shipped with the code
    region: str = "us-central1"  # where the Cloud Tasks queues live
    collection: str = "documents"
    results_cache_collection: str = "results-cache"  # model results by content (pay once per content)
    jobs_collection: str = "jobs"  # progress of resumable jobs (the backfill's cursor)
    log_level: str = "INFO"

    # Every downstream call has a deadline (seconds).
    firestore_timeout_s: float = 10.0
    storage_timeout_s: float = 60.0
    publish_timeout_s: float = 10.0

    # The api function: largest body it accepts (inline text or a small file).
    api_max_upload_bytes: int = 10 * 1024 * 1024
    # Production: from Secret Manager (a secret env var); unset, the api is open (the local stack).
    api_key: SecretStr | None = None
    # Base URL under which HTTP functions are reached by name (Cloud Tasks targets, scheduler).
    # Production: https://REGION-PROJECT.cloudfunctions.net ; local: set by the local stack.
    function_urls: dict[str, str] = Field(default_factory=dict)
    # The service account whose OIDC token Cloud Tasks sends to queue-triggered functions.
    tasks_service_account: str | None = None

    extraction: ExtractionLimits = Field(default_factory=ExtractionLimits)
    inference: InferenceOptions = Field(default_factory=InferenceOptions)

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
