"""What routes depend on (FastAPI `Depends`): the per-instance services."""

from __future__ import annotations

from contentflow.services import Services, services


def get_services() -> Services:
    return services()
