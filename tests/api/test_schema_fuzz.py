"""Schemathesis against the live OpenAPI schema: no input, valid or not, gets a 5xx answer,
and every answer matches the schema (status codes, content types, response bodies).

Each operation gets a bounded, deterministic number of generated requests (valid ones and
ones that break the schema), sent with a valid token to an app around a fresh database.
Two checks are left out on purpose: schema-valid input may still be refused with 400 (an
unknown template, a field the template lacks: the schema cannot say), and unknown query
parameters are ignored, as most HTTP APIs do, rather than refused.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from api.app import create_api, create_app
from api.deps import Backend
from core import service
from core.db import Database
from tests.conftest import NOW, extract_body

EXAMPLES_PER_OPERATION = 25  # valid and invalid requests together

OPERATIONS = [(method.upper(), path)
              for path, methods in create_api(Backend()).openapi()["paths"].items()
              for method in methods]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_answer_is_a_server_error(db: Database, method: str, path: str) -> None:
    with db.session() as session:  # a key, and an extract so that some ids hit
        secret = service.create_api_key(session=session, name="fuzz", now=NOW).secret
        service.create_extracts(session=session, data=extract_body(), now=NOW)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", create_app(db))
    operation = schema[path][method]
    cases = st.one_of(*(operation.as_strategy(mode) for mode in schemathesis.GenerationMode))

    @given(case=cases)
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None,
              database=None, suppress_health_check=list(HealthCheck))
    def no_server_error(case: schemathesis.Case) -> None:
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {secret}"},
            excluded_checks=[positive_data_acceptance, negative_data_rejection])
        assert response.status_code < 500, (case.as_curl_command(), response.text)

    no_server_error()
