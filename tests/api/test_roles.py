"""Each key acts with its role: a viewer reads and is refused every write (403 naming the
role needed, nothing written), an editor changes extracts but no connection, an admin both;
a key never acts above its owner. Every change lands in the audit log."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from api.app import create_api, create_app
from api.deps import ADMIN_PATHS, OWN_PATHS, Backend
from core import errors, schemas, service
from core.db import Database
from core.models import AuditEvent, Connection
from core.vocabulary import ActorKind, Role
from tests.api.conftest import Clock
from tests.conftest import NOW, extract_body

WRITES = [(method.upper(), re.sub(r"\{[a-z_]+\}", "1", path))
          for path, methods in create_api(Backend()).openapi()["paths"].items()
          for method in methods if method != "get" and path != "/v3/token"
          and path not in OWN_PATHS]


@pytest.fixture
def as_role(db: Database, clock: Clock) -> Callable[..., TestClient]:
    """A client whose key has `role` (and, if given, belongs to `owner`)."""

    def client(role: Role, owner: schemas.UserOut | None = None) -> TestClient:
        actor = service.actor_for(owner) if owner is not None else None
        with db.session(actor=actor) as session:
            key = service.create_api_key(session=session, name=f"{role} key", role=role,
                                         now=NOW)
        test_client = TestClient(create_app(db, clock=clock), follow_redirects=False)
        test_client.headers["Authorization"] = f"Bearer {key.secret}"
        return test_client

    return client


def snapshot(db: Database) -> tuple[object, ...]:
    with db.session() as s:
        return (service.list_extracts(session=s, now=NOW).model_dump(),
                [c.model_dump() for c in service.list_connections(session=s)],
                [r.model_dump() for r in service.list_runs(session=s, extract_id=1)],
                s.query(AuditEvent).count())


def test_a_viewer_reads_everything_and_is_refused_every_write(
        db: Database, as_role: Callable[..., TestClient]) -> None:
    with db.session() as s:
        service.create_extracts(session=s, data=extract_body(accounts=[1]), now=NOW)
    viewer = as_role(Role.VIEWER)
    for path in ("/api/v3/extracts", "/api/v3/extracts/1", "/api/v3/extracts/1/runs",
                 "/api/v3/data-tables", "/api/v3/audit", "/api/v3/datasources"):
        assert viewer.get(path).status_code == 200, path
    before = snapshot(db)
    assert len(WRITES) >= 9
    for method, path in WRITES:
        answer = viewer.request(method, f"/api{path}", json={})
        assert answer.status_code == 403, (method, path, answer.text)
        needed = "admin" if path.startswith(ADMIN_PATHS) else "editor"
        assert answer.json()["details"] == (
            f"{method} /api{path} needs the {needed} role; api key "
            f"{answer.json()['details'].split('api key ')[1].split(' acts')[0]} acts as viewer")
    assert snapshot(db) == before


def test_an_editor_changes_extracts_but_not_connections(
        db: Database, as_role: Callable[..., TestClient]) -> None:
    editor = as_role(Role.EDITOR)
    created = editor.post("/api/v3/extracts", json=extract_body(accounts=[1]))
    assert created.status_code == 201, created.text
    extract_id = created.json()[0]["id"]
    assert editor.patch(f"/api/v3/extracts/{extract_id}",
                        json={"title": "Renamed"}).status_code == 200
    answer = editor.post("/api/v3/connections", json={
        "datasource": "sample_ads", "title": "Mine"})
    assert answer.status_code == 403
    assert "needs the admin role" in answer.json()["details"]
    assert as_role(Role.ADMIN).post("/api/v3/connections", json={
        "datasource": "sample_ads", "title": "Mine"}).status_code == 201


def test_a_key_never_acts_above_its_owner(db: Database,
                                          as_role: Callable[..., TestClient]) -> None:
    with db.session() as s:
        ana = service.sign_in(session=s, email="Ana@Example.com", name="Ana", now=NOW)
    assert ana.role == Role.VIEWER  # EXTRACTS_DEFAULT_ROLE
    with db.session(actor=service.actor_for(ana)) as s, pytest.raises(
            errors.Forbidden, match="at most viewer"):
        service.create_api_key(session=s, name="too much", role=Role.EDITOR)
    with db.session() as s:
        ana = service.set_user_role(session=s, user_id=ana.id, role=Role.EDITOR)
    editor_key = as_role(Role.EDITOR, owner=ana)
    assert editor_key.post("/api/v3/extracts",
                           json=extract_body(accounts=[1])).status_code == 201
    with db.session() as s:  # Ana is demoted: her key with her
        service.set_user_role(session=s, user_id=ana.id, role=Role.VIEWER)
    answer = editor_key.post("/api/v3/extracts", json=extract_body(accounts=[2]))
    assert answer.status_code == 403 and "acts as viewer" in answer.json()["details"]


def test_the_audit_log_says_who_changed_what_when(
        db: Database, as_role: Callable[..., TestClient], clock: Clock) -> None:
    editor = as_role(Role.EDITOR)
    admin = as_role(Role.ADMIN)
    extract_id = editor.post("/api/v3/extracts", json=extract_body(
        accounts=[1], title="Daily clicks")).json()[0]["id"]
    clock.now = NOW + timedelta(days=1)
    editor.patch(f"/api/v3/extracts/{extract_id}", json={"title": "Clicks by day"})
    editor.post(f"/api/v3/extracts/{extract_id}/pause")
    editor.post(f"/api/v3/extracts/{extract_id}/unpause")
    run = editor.post(f"/api/v3/extracts/{extract_id}/run", json={
        "date_from": "2026-11-20", "date_to": "2026-11-21"}).json()
    run_id = editor.get(f"/api/v3/extracts/{extract_id}/runs").json()[0]["id"]
    assert run["id"] == extract_id
    editor.post(f"/api/v3/runs/{run_id}/cancel")
    made = admin.post("/api/v3/connections", json={
        "datasource": "sample_ads", "title": "Second", "config": {"rows_per_day": 3}})
    assert made.status_code == 201, made.text
    editor.delete(f"/api/v3/extracts/{extract_id}")

    page = admin.get("/api/v3/audit", params={"page_size": 50}).json()
    events = [(e["actor"].split(" (")[1].rstrip(")"), e["action"], e["object_type"])
              for e in reversed(page["results"])]
    assert events == [
        ("editor key", "created", "data table"), ("editor key", "created", "extract"),
        ("editor key", "created", "schedule"),
        ("editor key", "changed", "extract"), ("editor key", "paused", "extract"),
        ("editor key", "resumed", "extract"), ("editor key", "run requested", "run"),
        ("editor key", "cancelled", "run"), ("admin key", "created", "connection"),
        ("editor key", "deleted", "extract"), ("editor key", "deleted", "schedule"),
    ], "\n".join(map(str, events))
    renamed = next(e for e in page["results"] if e["action"] == "changed")
    assert renamed["changes"] == {"title": {"before": "Daily clicks",
                                            "after": "Clicks by day"}}
    assert renamed["at"].startswith((NOW + timedelta(days=1)).date().isoformat())
    assert renamed["actor_kind"] == ActorKind.API_KEY
    connection = next(e for e in page["results"] if e["object_type"] == "connection")
    assert connection["changes"]["config"] == {"after": {"rows_per_day": 3,
                                                         "failure_rate": 0.0}}
    runs = admin.get("/api/v3/audit", params={"object_type": "run"}).json()
    assert [e["action"] for e in runs["results"]] == ["cancelled", "run requested"]
    day = (NOW + timedelta(days=1)).date()
    later = admin.get("/api/v3/audit", params={"date_from": day.isoformat(),
                                               "actor": "EDITOR KEY"}).json()
    assert later["count"] >= 5 and all(e["at"] >= day.isoformat() for e in later["results"])
    assert admin.get("/api/v3/audit", params={"date_to": date(2020, 1, 1).isoformat()}
                     ).json()["count"] == 0


def test_nothing_changes_or_deletes_the_audit_log(db: Database) -> None:
    admin = schemas.Actor(kind=ActorKind.USER, name="root@example.com", role=Role.ADMIN)
    with db.session(actor=admin) as s:
        service.create_extracts(session=s, data=extract_body(accounts=[1]), now=NOW)
    with pytest.raises(errors.Forbidden, match="audit log"), db.session(actor=admin) as s:
        s.query(AuditEvent).first().action = "nothing happened"  # type: ignore[union-attr]
        s.flush()
    with pytest.raises(errors.Forbidden, match="audit log"), db.session(actor=admin) as s:
        s.delete(s.query(AuditEvent).first())
        s.flush()
    with db.session() as s:
        assert {e.action for e in s.query(AuditEvent)} == {"created"}


def test_a_viewer_session_writes_nothing_through_any_service(db: Database) -> None:
    viewer = schemas.Actor(kind=ActorKind.USER, name="lead@example.com", role=Role.VIEWER)
    editor = viewer.model_copy(update={"role": Role.EDITOR})
    attempts = [
        (viewer, lambda s: service.create_extracts(session=s, data=extract_body(), now=NOW)),
        (viewer, lambda s: service.run_extract(session=s, extract_id=1, now=NOW)),
        (viewer, lambda s: service.pause_extract(session=s, extract_id=1, now=NOW)),
        (viewer, lambda s: service.delete_extract(session=s, extract_id=1, delete_rows=True)),
        (editor, lambda s: service.test_connection(session=s, connection_id=1)),
        (editor, lambda s: service.create_connection(session=s, data={
            "datasource": "sample_ads", "title": "x"})),
        (editor, lambda s: service.refresh_accounts(session=s, connection_id=1)),
    ]
    with db.session() as s:
        service.create_extracts(session=s, data=extract_body(accounts=[1]), now=NOW)
    before = snapshot(db)
    for actor, attempt in attempts:
        refused = pytest.raises(errors.Forbidden, match=f"needs the .* role; user "
                                                        f"{actor.name} acts as {actor.role}")
        with refused, db.session(actor=actor) as s:
            attempt(s)
    assert snapshot(db) == before


def test_a_secret_is_logged_only_as_changed(db: Database) -> None:
    admin = schemas.Actor(kind=ActorKind.USER, name="root@example.com", role=Role.ADMIN)
    with db.session(actor=admin) as s:
        connection = s.get(Connection, 1)
        assert connection is not None
        connection.secrets = db.cipher.encrypt({"password": "s3cret-canary"})
    with db.session() as s:
        [event] = service.list_audit_events(session=s, object_type="connection").items
    assert (event.action, event.changes) == ("changed", {"secrets": {
        "before": "(changed)", "after": "(changed)"}})
    assert "s3cret-canary" not in str(event)
