"""API fixtures: an app around the test database, a key and a client that sends its token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core import schemas, service
from core.db import Database
from tests.conftest import NOW


@dataclass
class Clock:
    """The API's clock in tests: a fixed time that a test may move."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api_key(db: Database) -> schemas.NewApiKey:
    with db.session() as session:
        return service.create_api_key(session=session, name="tests", now=NOW)


@pytest.fixture
def anonymous(db: Database, clock: Clock) -> Iterator[TestClient]:
    """A client without credentials."""
    # Redirects are not followed: every path must be answered where the client sends it.
    with TestClient(create_app(db, clock=clock), follow_redirects=False) as client:
        yield client


@pytest.fixture
def client(anonymous: TestClient, api_key: schemas.NewApiKey) -> TestClient:
    """A client that sends a bearer token minted from the test key."""
    answer = anonymous.post("/api/v3/token", auth=(api_key.key_id, api_key.secret))
    assert answer.status_code == 200, answer.text
    anonymous.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return anonymous
