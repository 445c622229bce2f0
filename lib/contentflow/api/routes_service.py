"""Search, health and readiness."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import ConfigDict

from contentflow.api.deps import get_services
from contentflow.api.errors import ErrorResponse, error_body
from contentflow.api.models import Health, Readiness, SearchAnswer
from contentflow.logs import get_logger
from contentflow.search import SearchRequest
from contentflow.services import Services

router = APIRouter()


class SearchQuery(SearchRequest):
    model_config = ConfigDict(extra="forbid")  # an unknown parameter is a 400, not silently ignored

log = get_logger("contentflow.api")
READINESS_TIMEOUT_S = 5.0
_checks_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


@router.get("/search", response_model=SearchAnswer, tags=["search"],
            responses={400: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
            summary="Semantic search over done documents (current embedding model only)")
def search(query: Annotated[SearchQuery, Query()], s: Services = Depends(get_services)):
    return s.search.search(query)


@router.get("/healthz", response_model=Health, tags=["health"], summary="Alive (answers without touching dependencies)")
def healthz():
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, tags=["health"], responses={503: {"model": ErrorResponse}},
            summary="Ready: Firestore, both buckets and the inference backend answer, each within a timeout")
def readyz(s: Services = Depends(get_services)):
    checks = {
        "firestore": lambda: s.store.get("0" * 32),
        "bucket:inbox": lambda: s.blobs.ping(s.settings.bucket("inbox")),
        "bucket:processed": lambda: s.blobs.ping(s.settings.bucket("processed")),
        "inference": lambda: s.inference.embed_query("readiness"),
    }
    futures = {name: _checks_pool.submit(check) for name, check in checks.items()}
    results: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=READINESS_TIMEOUT_S)
            results[name] = "ok"
        except FutureTimeout:
            results[name] = f"no answer within {READINESS_TIMEOUT_S:g} s"
        except Exception as err:  # the dependency's own text stays in the log
            log.warning("readiness check failed", check=name, error=f"{type(err).__name__}: {err}"[:500])
            results[name] = f"failed ({type(err).__name__})"
    if any(v != "ok" for v in results.values()):
        return JSONResponse(error_body("not_ready", "a dependency does not answer", results), status_code=503)
    return {"status": "ready", "checks": results}
