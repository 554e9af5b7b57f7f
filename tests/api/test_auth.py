"""Auth: API keys (stored as hashes), bearer tokens valid 30 minutes, 401 otherwise."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core import apikeys, errors, schemas, service
from core.db import Database
from core.models import ApiKey, ApiToken
from tests.api.conftest import Clock
from tests.conftest import NOW, make_settings


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(client: TestClient, key: schemas.NewApiKey) -> str:
    answer = client.post("/api/v3/token", auth=(key.key_id, key.secret))
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def test_token_endpoint_mints_a_bearer_token_valid_30_minutes(
        anonymous: TestClient, api_key: schemas.NewApiKey) -> None:
    answer = anonymous.post("/api/v3/token", auth=(api_key.key_id, api_key.secret))

    body = answer.json()
    assert answer.status_code == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1800
    assert body["expires_at"] == "2026-11-28T10:30:00Z"
    assert anonymous.get("/api/v3/extracts",
                         headers=bearer(body["access_token"])).status_code == 200


def test_the_key_secret_itself_works_as_a_bearer_token(
        anonymous: TestClient, api_key: schemas.NewApiKey) -> None:
    assert anonymous.get("/api/v3/datasources",
                         headers=bearer(api_key.secret)).status_code == 200


def test_no_token_is_401(anonymous: TestClient) -> None:
    answer = anonymous.get("/api/v3/extracts")

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json()["details"].startswith("send Authorization: Bearer <token>")


def test_every_endpoint_but_the_token_one_needs_a_token(anonymous: TestClient) -> None:
    schema = anonymous.get("/api/openapi.json").json()
    assert len(schema["paths"]) >= 19
    for path, operations in schema["paths"].items():
        for method in operations:
            answer = anonymous.request(method.upper(), "/api" + re.sub(r"{\w+}", "1", path))
            assert answer.status_code == 401, (method, path, answer.text)


def test_a_wrong_token_is_401(anonymous: TestClient, api_key: schemas.NewApiKey) -> None:
    for token in ("tok_not-a-real-token", "sk_guessed", api_key.key_id):
        answer = anonymous.get("/api/v3/extracts", headers=bearer(token))
        assert answer.status_code == 401, token


def test_wrong_basic_credentials_are_401(anonymous: TestClient,
                                         api_key: schemas.NewApiKey) -> None:
    wrong_secret = anonymous.post("/api/v3/token", auth=(api_key.key_id, "sk_wrong"))
    wrong_id = anonymous.post("/api/v3/token", auth=("key_nope", api_key.secret))
    none = anonymous.post("/api/v3/token")

    for answer in (wrong_secret, wrong_id):
        assert answer.status_code == 401
        assert answer.json() == {"details": "unknown API key id or wrong secret"}
    assert none.status_code == 401
    assert "HTTP Basic" in none.json()["details"]


def test_an_expired_token_is_401(anonymous: TestClient, api_key: schemas.NewApiKey,
                                 clock: Clock) -> None:
    token = token_for(anonymous, api_key)

    clock.now = NOW + timedelta(minutes=29, seconds=59)
    still = anonymous.get("/api/v3/extracts", headers=bearer(token))
    clock.now = NOW + timedelta(minutes=30)
    expired = anonymous.get("/api/v3/extracts", headers=bearer(token))

    assert still.status_code == 200
    assert expired.status_code == 401
    assert expired.json()["details"].startswith("bearer token expired")


def test_a_revoked_key_and_its_tokens_are_401(anonymous: TestClient, db: Database,
                                              api_key: schemas.NewApiKey) -> None:
    token = token_for(anonymous, api_key)
    with db.session() as session:
        service.revoke_api_key(session=session, key_id=api_key.key_id, now=NOW)

    by_token = anonymous.get("/api/v3/extracts", headers=bearer(token))
    by_secret = anonymous.get("/api/v3/extracts", headers=bearer(api_key.secret))
    new_token = anonymous.post("/api/v3/token", auth=(api_key.key_id, api_key.secret))

    assert by_token.status_code == 401
    assert by_secret.status_code == 401
    assert by_secret.json() == {"details": f"API key {api_key.key_id} was revoked"}
    assert new_token.status_code == 401


def test_keys_are_stored_only_as_hashes_and_last_use_is_recorded(
        anonymous: TestClient, db: Database, api_key: schemas.NewApiKey, clock: Clock) -> None:
    clock.now = NOW + timedelta(minutes=5)
    token = token_for(anonymous, api_key)
    anonymous.get("/api/v3/extracts", headers=bearer(token))

    with db.session() as session:
        [key] = service.list_api_keys(session=session)
        stored = session.scalars(select(ApiKey.secret_hash)).all()
        tokens = session.scalars(select(ApiToken.token_hash)).all()
    assert key.last_used_at == NOW + timedelta(minutes=5)
    assert api_key.secret not in stored and len(stored) == 1
    assert token not in tokens and len(tokens) == 1


def test_an_empty_key_name_is_refused(db: Database) -> None:
    with db.session() as session, pytest.raises(errors.Invalid, match="name: "):
        service.create_api_key(session=session, name="  ")


def test_cli_creates_lists_and_revokes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path)
    monkeypatch.setenv("EXTRACTS_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("EXTRACTS_SECRET_KEY", "test-secret")

    assert apikeys.main(["create", "nightly export", "--role", "viewer"]) == 0
    created = capsys.readouterr().out
    key_id = re.search(r"key id: (key_\w+)\nrole: viewer\n", created)
    assert key_id is not None and re.search(r"secret: sk_\S+", created)
    assert apikeys.main(["list"]) == 0
    assert f"{key_id.group(1)}  'nightly export'  viewer  no owner  active  last used never" in (
        capsys.readouterr().out)
    assert apikeys.main(["revoke", key_id.group(1)]) == 0
    assert apikeys.main(["list"]) == 0
    assert "revoked" in capsys.readouterr().out.splitlines()[-1]
    assert apikeys.main(["revoke", "key_nope"]) == 1
    assert "API key key_nope does not exist" in capsys.readouterr().err
