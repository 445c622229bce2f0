"""The api, driven from its own /openapi.json by a schema-driven property test (Schemathesis):
generated requests, valid and invalid, against the running local stack must never get a 5xx, and
every response must match the documented status codes, content types and schemas.

Schemathesis' pytest integration for fixtures (`from_fixture`) does not run under pytest 9, so
each operation's Hypothesis strategy is driven here directly; the checks are Schemathesis' own."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 12}


@pytest.fixture(scope="module")
def api_url(stack):
    return stack.function_url("api").rstrip("/")


@pytest.fixture(scope="module")
def operations(api_url):
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json", timeout=30)
    return {op.ok().label: op.ok() for op in schema.get_all_operations()}


def test_the_schema_describes_every_route(operations):
    assert {"POST /documents", "GET /documents", "GET /documents/{doc_id}", "DELETE /documents/{doc_id}",
            "POST /documents/{doc_id}:retry", "POST /uploads", "GET /search", "GET /healthz", "GET /readyz",
            "GET /reports/latest"} <= set(operations)


# Schemathesis' own strategies use `random` inside (its concern, not ours).
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
def test_the_api_keeps_its_own_contract(operations, api_url, mode):
    failures, exercised = [], set()
    for label, operation in sorted(operations.items()):
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(base_url=api_url, timeout=60, checks=CHECKS)

        try:
            run()
            exercised.add(label)
        except Unsatisfiable:  # negative mode: an operation without inputs has nothing to make invalid
            assert mode == GenerationMode.NEGATIVE, label
        except Exception as err:  # noqa: BLE001 (collected: one report for all operations)
            failures.append(f"{label}: {str(err)[:1500]}")
    assert not failures, "\n\n".join(failures)
    assert {"POST /documents", "GET /documents", "GET /search", "POST /uploads", "DELETE /documents/{doc_id}"} <= exercised
