"""The Audit page: who changed what, filtered from the URL; Settings' people and roles."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import schemas, service
from core.db import Database
from core.vocabulary import ActorKind, Role
from dashboard import navigation
from tests.conftest import NOW, extract_body
from tests.dashboard.conftest import APP, SCRIPT_TIMEOUT, open_page, texts
from tests.dashboard.test_sign_in import as_user, signed_in_app  # noqa: F401  (a fixture)

ANA = schemas.Actor(kind=ActorKind.USER, name="ana@example.com", role=Role.EDITOR)


def changes_by_ana(db: Database) -> int:
    with db.session(actor=ANA, now=NOW) as s:
        [extract] = service.create_extracts(session=s, data=extract_body(
            accounts=[1], title="Daily clicks"), now=NOW)
        service.patch_extract(session=s, extract_id=extract.id, data={"title": "Clicks"},
                              now=NOW)
    return extract.id


def test_the_log_shows_each_change_and_filters_from_the_url(app_db: Database) -> None:
    extract_id = changes_by_ana(app_db)
    at = open_page(navigation.AUDIT)
    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["actor"]) == {"ana@example.com"}
    assert "title: Daily clicks → Clicks" in list(table["changes"])
    assert f"extract {extract_id} Clicks" in list(table["object"])

    at = AppTest.from_file(APP, default_timeout=SCRIPT_TIMEOUT)
    at.query_params.update({"what": "schedule"})
    at.run()
    at.switch_page(navigation.AUDIT).run()
    assert not at.exception
    assert set(at.dataframe[0].value["action"]) == {"created"}
    assert all(o.startswith("schedule") for o in at.dataframe[0].value["object"])


@pytest.mark.parametrize("query", [{"id": "abc", "from": "yesterday", "what": "nonsense"},
                                   {"who": "nobody@example.com"}, {"to": "2001-01-01"}])
def test_odd_filters_never_break_the_page(app_db: Database, query: dict[str, str]) -> None:
    changes_by_ana(app_db)
    at = AppTest.from_file(APP, default_timeout=SCRIPT_TIMEOUT)
    at.run()
    at.switch_page(navigation.AUDIT)
    at.query_params.update(query)
    at.run()
    assert not at.exception
    assert at.dataframe or "No changes match these filters." in texts(at)


def test_an_admin_gives_a_role_and_a_viewer_cannot(
        signed_in_app: Database) -> None:  # noqa: F811
    with signed_in_app.session() as s:
        lead = service.sign_in(session=s, email="lead@example.com", now=NOW)
    at = as_user("boss@example.com", "The Boss")
    at.switch_page(navigation.SETTINGS).run()
    assert not at.exception
    at.selectbox(key="settings_role_user").select(lead.id)
    at.selectbox(key="settings_role_value").select(Role.EDITOR)
    next(b for b in at.button if b.label == "Change role").click().run()
    assert "lead@example.com is now editor." in texts(at)

    viewer = as_user("new@example.com")
    viewer.switch_page(navigation.SETTINGS).run()
    assert not viewer.exception
    assert "Changing roles needs the admin role; you are viewer. Ask an admin." in texts(viewer)
    assert not [b for b in viewer.button if b.label == "Change role"]
    assert viewer.selectbox(key="settings_key_role").options == ["viewer"]
    with signed_in_app.session() as s:
        roles = {u.email: u.role for u in service.list_users(session=s)}
        [event] = service.list_audit_events(session=s, object_type="user").items
    assert roles["lead@example.com"] == Role.EDITOR
    assert (event.actor, event.changes) == ("boss@example.com", {
        "role": {"before": "viewer", "after": "editor"}})
