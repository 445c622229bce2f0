"""Fixtures of the Terraform tests (helpers in support.py)."""

from __future__ import annotations

from typing import Any

import pytest

from .support import Terraform, evaluate_spec_module, load_terraform


@pytest.fixture(scope="session")
def spec_outputs(tmp_path_factory) -> dict[str, Any]:
    """The spec module evaluated on the shipped spec (once per session)."""
    return evaluate_spec_module(tmp_path_factory.mktemp("tf-spec"))


@pytest.fixture(scope="session")
def terraform_hcl() -> Terraform:
    return load_terraform()
