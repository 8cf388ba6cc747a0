"""The OpenAPI document covers every API route, and schemathesis, generating requests from it (valid and invalid,
with a token of the role each operation names, scoped to what the path asks for), finds no 5xx. It runs against a
service with its own Redis and PostgreSQL: it creates, revokes and changes whatever the API lets it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from starlette.routing import Route

from dispatch import tokens
from prealert.bootstrap import all_routes
from prealert.embedded import EmbeddedServers
from prealert.harness import Backends, Service
from tests.conftest import REGION, SECRET, start_service

UNDOCUMENTED = {
    "/metrics",
    "/tablet",
    "/console",
    "/dashboard",
    "/tablet-sw.js",
    "/dashboard/ecg.js",
    "/dashboard/dashboard.js",
}


@pytest.fixture(scope="module")
def isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    servers = EmbeddedServers(Path(tmp_path_factory.mktemp("schemathesis-servers")))
    servers.start()
    try:
        running = start_service(
            Backends(servers.redis_url, servers.database_url),
            Path(tmp_path_factory.mktemp("schemathesis")),
            PREALERT_LOGIN_ATTEMPTS="1000000",
        )
        try:
            yield running
        finally:
            running.stop()
    finally:
        servers.stop()


def test_the_document_covers_every_api_route(isolated: Service) -> None:
    document = httpx.get(f"{isolated.http}/openapi.json", timeout=10).json()
    assert document["openapi"] == "3.1.0"
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    served = {
        (m, r.path)
        for r in all_routes()
        if isinstance(r, Route) and r.path not in UNDOCUMENTED
        for m in (r.methods or set())
        if m != "HEAD"
    }
    assert documented == served


def _token(operation: Any, case: Any) -> str | None:
    """A token of the first role the operation names, scoped to the unit or hospital its path asks for."""
    roles: list[str] = operation.definition.raw.get("x-roles", [])
    if not roles:
        return None
    role: tokens.Role = "dispatcher" if roles == ["any"] else roles[0]  # type: ignore[assignment]
    params = case.path_parameters or {}
    scope = {"unit": params.get("unit", "M1"), "hospital": params.get("hospital", "upmc-mercy")}.get(
        tokens.SCOPE_CLAIM[role], REGION
    )
    return tokens.issue(SECRET, role=role, scope=scope, subject=f"schemathesis-{role}", now=int(time.time()), ttl_s=600)


def _fuzz(base_url: str, operation: Any, mode: GenerationMode, failures: list[str]) -> int:
    """Calls made to one operation in one mode (valid or invalid requests); any 5xx goes to ``failures``."""
    calls = 0

    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        nonlocal calls
        bearer = _token(operation, case)
        response = case.call(base_url=base_url, headers={"authorization": f"Bearer {bearer}"} if bearer else {})
        calls += 1
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}")

    try:
        call()
    except Unsatisfiable:  # nothing to make invalid (an operation with no parameters or body)
        assert mode is GenerationMode.NEGATIVE
    return calls


def test_no_request_makes_a_server_error(isolated: Service) -> None:
    schema = schemathesis.openapi.from_url(f"{isolated.http}/openapi.json")
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            operation = result.ok()  # type: ignore[union-attr]  # an invalid schema fails here, loudly
            calls += _fuzz(isolated.http, operation, mode, failures)
    assert calls > 500
    assert failures == []
