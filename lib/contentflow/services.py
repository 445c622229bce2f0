"""The composition root: clients built once per instance, on first use, and reused.

A function imports only what it touches: on_upload never loads the Storage client, and the
extraction libraries load only inside the extract step.
"""

from __future__ import annotations

import os
from functools import cached_property

from contentflow.logs import setup_logging
from contentflow.settings import Settings, get_settings


class Services:
    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def firestore(self):
        from google.cloud import firestore

        return firestore.Client(project=self.settings.project_id)

    @cached_property
    def storage(self):
        from google.cloud import storage

        return storage.Client(project=self.settings.project_id)

    @cached_property
    def publisher(self):
        from google.cloud import pubsub_v1

        # Small batches, short latency: one message per document per step.
        batch = pubsub_v1.types.BatchSettings(max_messages=100, max_latency=0.002)
        return pubsub_v1.PublisherClient(batch_settings=batch)

    @cached_property
    def tasks(self):
        from google.cloud import tasks_v2

        emulator = os.environ.get("CLOUD_TASKS_EMULATOR_HOST")
        if emulator:  # like the other *_EMULATOR_HOST variables: an insecure channel to it
            import grpc
            from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

            return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(emulator)))
        return tasks_v2.CloudTasksClient()

    @cached_property
    def store(self):
        from contentflow.store import DocumentStore

        return DocumentStore(self.firestore, self.settings.collection, self.settings.firestore_timeout_s)

    @cached_property
    def blobs(self):
        from contentflow.blobs import BlobStore

        return BlobStore(self.storage, self.settings.storage_timeout_s)

    @cached_property
    def dispatcher(self):
        from contentflow.dispatch import Dispatcher

        s = self.settings
        return Dispatcher(s.spec, s.project_id, self.publisher, s.publish_timeout_s,
                          tasks_client=_Lazy(lambda: self.tasks), function_urls=s.function_urls,
                          location=s.region, tasks_service_account=s.tasks_service_account)

    @cached_property
    def firestore_retry(self):
        from google.api_core import retry as retries

        # The client's default retry keeps trying UNAVAILABLE for 60 s whatever the call's timeout.
        return retries.Retry(predicate=retries.if_transient_error, initial=0.1, maximum=1.0, multiplier=2.0,
                             timeout=self.settings.firestore_timeout_s)

    @cached_property
    def pipeline(self):
        from contentflow.pipeline import Pipeline

        return Pipeline(self.settings, self.store, self.dispatcher, self.step_handler)

    @cached_property
    def intake(self):
        from contentflow.intake import Intake

        # BlobStore is built lazily: only the api's submissions touch Storage here.
        return Intake(self.settings, self.store, _Lazy(lambda: self.blobs), self.dispatcher)

    @cached_property
    def recovery(self):
        from contentflow.recovery import Recovery

        return Recovery(self.settings, self.store, self.dispatcher)

    def step_handler(self, step_name: str):
        """The step's handler, built on first use and kept for the instance's life."""
        handlers = self.__dict__.setdefault("_handlers", {})
        if step_name not in handlers:
            from contentflow.steps import build_handler

            handlers[step_name] = build_handler(step_name, self)
        return handlers[step_name]

    @cached_property
    def inference(self):
        from contentflow.inference import make_backend

        return make_backend(self.settings)

    @cached_property
    def taxonomy(self):
        from contentflow.inference import load_taxonomy

        return load_taxonomy(self.settings.inference.taxonomy_path)

    @cached_property
    def chunks(self):
        from contentflow.chunks import ChunkStore

        emb = self.settings.spec.embeddings
        return ChunkStore(self.firestore, emb.collection, emb.field, self.settings.firestore_timeout_s, self.firestore_retry)

    @cached_property
    def results_lookup(self):
        from contentflow.results_cache import ResultsLookup

        s = self.settings
        # Earlier results of identical content, found on the records themselves (no collection of their own).
        return ResultsLookup(self.firestore, s.collection, s.firestore_timeout_s, self.firestore_retry)

    @cached_property
    def indexer(self):
        from contentflow.indexing import Indexer

        s = self.settings
        return Indexer(self.blobs, self.inference, self.chunks, self.results_lookup, s.inference, s.extraction)

    @cached_property
    def search(self):
        from contentflow.search import Search

        return Search(self.inference, self.chunks, self.store)

    @cached_property
    def backfill(self):
        from contentflow.backfill import Backfill

        s = self.settings
        return Backfill(self.store, self.chunks, self.indexer, self.dispatcher, self.firestore.collection(s.jobs_collection),
                        s.firestore_timeout_s, self.firestore_retry)


    @cached_property
    def deletion(self):
        from contentflow.deletion import Deletion

        return Deletion(self.settings, self.store, self.blobs, self.chunks)

    # --- the scheduled jobs (functions/jobs.py) and the reports the api serves ----------------
    @cached_property
    def retention(self):
        from contentflow.jobs.retention import Retention

        s = self.settings
        return Retention(s.spec.retention.documents_days, self.firestore.collection(s.collection), self.deletion,
                         self.firestore.collection(s.jobs_collection), s.firestore_timeout_s, self.firestore_retry)

    @cached_property
    def reports(self):
        from contentflow.jobs.report import Reports

        s = self.settings
        # Storage only when a report is written (the api reads reports from Firestore).
        return Reports(s.spec, self.firestore.collection(s.collection), self.firestore.collection(s.reports_collection),
                       self.firestore.collection(s.jobs_collection), _Lazy(lambda: self.blobs), s.bucket("processed"),
                       s.firestore_timeout_s, self.firestore_retry)

    @cached_property
    def reconcile(self):
        from contentflow.jobs.reconcile import Reconcile

        s = self.settings
        return Reconcile(s.bucket("inbox"), self.firestore.collection(s.collection), self.firestore, self.blobs,
                         self.intake, self.firestore.collection(s.jobs_collection), s.firestore_timeout_s,
                         self.firestore_retry)

    @cached_property
    def url_policy(self):
        from contentflow.urlfetch import FetchPolicy

        u = self.settings.url_fetch
        return FetchPolicy(max_bytes=u.max_bytes, timeout_s=u.timeout_s, max_redirects=u.max_redirects,
                           allow_loopback=u.allow_loopback)

    @cached_property
    def url_ingestion(self):
        from contentflow.fetching import UrlIngestion
        from contentflow.urlfetch import fetch

        return UrlIngestion(self.settings, self.store, self.blobs, self.dispatcher, fetch, self.url_policy)

    @cached_property
    def idempotency(self):
        from contentflow.idempotency import IdempotencyStore

        s = self.settings
        return IdempotencyStore(self.firestore, s.idempotency_collection, s.idempotency_ttl_s, s.firestore_timeout_s,
                                self.firestore_retry)

    @cached_property
    def uploads(self):
        from contentflow.uploads import UploadSigner

        return UploadSigner(self.settings, self.storage)

    def warm(self, *names: str) -> Services:
        """Builds the named clients now, at instance start (Cloud Functions runs global scope
        before the first request), instead of on the first request's path; the inference backend
        also loads its model (local) or client (vertex)."""
        for name in names:
            built = getattr(self, name)
            if name == "inference":
                built.warm_up()
        return self


class _Lazy:
    """Defers building a client until it is first used (only the steps that need it pay)."""

    def __init__(self, factory):
        self._factory = factory

    def __getattr__(self, name):
        return getattr(self._factory(), name)


_instance: Services | None = None


def services() -> Services:
    """Per-instance singleton (Cloud Functions reuses an instance across requests)."""
    global _instance
    if _instance is None:
        settings = get_settings()
        setup_logging(settings.project_id, settings.log_level)
        _instance = Services(settings)
    return _instance
