"""Who is at the dashboard: single-user mode (the local admin, 127.0.0.1 only), or people
signed in with OpenID Connect, each acting with their role; every change is theirs in the
audit log. The real sign-in flow in Chromium is tests/e2e/test_sign_in.py."""

from __future__ import annotations

import re
from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from core import errors, schemas, service
from core.config import get_settings
from core.db import Database
from core.vocabulary import Role
from dashboard import auth, navigation
from tests.dashboard.conftest import APP, SCRIPT_TIMEOUT, open_page, texts


def test_single_user_mode_is_the_local_admin_and_says_so(app_db: Database) -> None:
    at = open_page(navigation.SETTINGS)
    assert not at.exception
    assert "Single-user mode: only this machine can open the dashboard" in texts(at)
    at.text_input(key="settings_key_name").input("laptop script")
    next(b for b in at.button if b.label == "Create key").click().run()
    assert not at.exception
    with app_db.session() as s:
        [key] = service.list_api_keys(session=s)
        [event] = service.list_audit_events(session=s, object_type="api key").items
        [user] = service.list_users(session=s)
    assert (key.role, key.owner) == (Role.ADMIN, service.LOCAL_USER)
    assert (event.actor, event.action) == (service.LOCAL_USER, "created")
    assert (user.email, user.role) == (service.LOCAL_USER, Role.ADMIN)


@pytest.fixture
def signed_in_app(app_db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("EXTRACTS_OIDC_METADATA_URL",
                       "http://127.0.0.1:9/.well-known/openid-configuration")
    monkeypatch.setenv("EXTRACTS_OIDC_CLIENT_ID", "extracts")
    monkeypatch.setenv("EXTRACTS_OIDC_CLIENT_SECRET", "not-used-here")
    monkeypatch.setenv("EXTRACTS_ADMIN_EMAILS", "boss@example.com")
    return app_db


def as_user(email: str | None, name: str = "") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=SCRIPT_TIMEOUT)
    at.user = ({"is_logged_in": False} if email is None else
               {"is_logged_in": True, "email": email, "name": name})
    return at.run()


def test_nobody_gets_past_the_sign_in_page(signed_in_app: Database) -> None:
    at = as_user(None)
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert "Sign in to see and manage the data extracts." in texts(at)
    assert "Extracts" not in [h.value for h in [*at.header, *at.subheader]]
    assert not at.dataframe
    with signed_in_app.session() as s:
        assert service.list_users(session=s) == []


# Every button and form that changes something, by the label a person sees.
WRITE_BUTTONS = {"Run", "Pause", "Resume", "Edit", "Clone", "Delete…", "Cancel run",
                 "Cancel all queued", "Cancel backfill", "Retry failed windows", "Fill gaps",
                 "Test connection", "Refresh accounts and templates", "Delete connection"}


def is_write(label: str) -> bool:
    return label in WRITE_BUTTONS or label.startswith(("Cancel all queued", "Cancel backfill",
                                                       "Retry failed windows"))


def test_a_viewer_meets_every_write_path_disabled_with_the_reason(
        signed_in_app: Database) -> None:
    with signed_in_app.session() as s:
        [extract] = service.create_extracts(session=s, data={
            "data_table_title": "Campaign stats", "template_id": 1, "accounts": [1],
            "template_settings": {"fields": ["date", "campaign_id", "clicks"]}})
        service.run_extract(session=s, extract_id=extract.id, date_from=date(2026, 11, 1),
                            date_to=date(2026, 11, 2))
    seen: set[str] = set()
    for page, params in ((navigation.EXTRACTS, {}), (navigation.EXTRACT, {"id": extract.id}),
                         (navigation.HISTORY, {"extract": extract.id}),
                         (navigation.CONNECTIONS, {})):
        at = as_user("lead@example.com", "Team Lead")
        at.query_params.update({k: str(v) for k, v in params.items()})
        at.switch_page(page).run()
        assert not at.exception, page
        for button in at.button:
            if is_write(button.label):
                seen.add(button.label.split(" (")[0])
                assert button.disabled, (page, button.label)
                assert button.help and "needs the" in button.help and "you are viewer" in \
                    button.help, (page, button.label, button.help)
    assert {"Run", "Pause", "Edit", "Clone", "Delete…", "Cancel all queued", "Test connection",
            "Delete connection"} - seen <= {"Delete connection"}, seen
    for page, doing in ((navigation.NEW_EXTRACT, "Creating extracts"),
                        (navigation.CONNECTIONS, "Adding, changing and deleting connections")):
        at = as_user("lead@example.com", "Team Lead")
        at.switch_page(page).run()
        assert f"{doing} needs the" in texts(at)
        assert not [b for b in at.button if b.label in ("Create extracts", "Add connection")]
    edit = as_user("lead@example.com", "Team Lead")
    edit.query_params["id"] = str(extract.id)
    edit.switch_page(navigation.EDIT_EXTRACT).run()
    assert "Editing an extract needs the editor role; you are viewer" in texts(edit)
    assert not [b for b in edit.button if b.label == "Save changes"]


def test_what_a_viewer_cannot_click_the_core_refuses_anyway(signed_in_app: Database) -> None:
    """Behind the disabled buttons: a viewer's session cannot write, whatever calls it."""
    with signed_in_app.session() as s:
        service.create_extracts(session=s, data={
            "data_table_title": "Campaign stats", "template_id": 1, "accounts": [1],
            "template_settings": {"fields": ["date", "campaign_id", "clicks"]}})
    at = as_user("Lead@Example.com", "Team Lead")
    assert not at.exception
    assert "Signed in as Team Lead (lead@example.com) · viewer" in texts(at)
    assert at.dataframe  # the extracts list
    viewer = state_actor(at)
    refused = pytest.raises(errors.Forbidden, match=re.escape(
        "creating an extract needs the editor role; user lead@example.com acts as viewer"))
    with refused, signed_in_app.session(actor=viewer) as s:
        service.create_extracts(session=s, data={
            "data_table_title": "Viewer's", "template_id": 1, "accounts": [2],
            "template_settings": {"fields": ["date", "campaign_id"]}})
    with signed_in_app.session() as s:
        assert service.list_extracts(session=s).total == 1
        assert service.list_audit_events(session=s).total == 0


def state_actor(at: AppTest) -> schemas.Actor:
    actor = at.session_state["auth_actor"]
    assert isinstance(actor, schemas.Actor)
    return actor


def test_an_admin_email_is_an_admin_from_the_first_sign_in(signed_in_app: Database) -> None:
    at = as_user("boss@example.com", "The Boss")
    assert not at.exception
    assert "Signed in as The Boss (boss@example.com) · admin" in texts(at)
    assert [b.label for b in at.sidebar.button if b.label == "Sign out"] == ["Sign out"]


def test_listening_beyond_this_machine_without_sign_in_is_refused() -> None:
    settings = get_settings({"EXTRACTS_VAR_DIR": "/nonexistent"})
    for address in ("0.0.0.0", "", "10.1.2.3"):
        with pytest.raises(auth.StartupRefused, match=r"refusing to serve on .* without sign-in"):
            auth.configure(settings, address)
    auth.configure(settings, "127.0.0.1")  # single-user mode on loopback: fine


def test_an_editor_changes_extracts_but_not_connections(signed_in_app: Database) -> None:
    with signed_in_app.session() as s:
        ed = service.sign_in(session=s, email="ed@example.com", name="Ed")
        service.set_user_role(session=s, user_id=ed.id, role=Role.EDITOR)
    at = as_user("ed@example.com", "Ed")
    at.switch_page(navigation.NEW_EXTRACT).run()
    assert not at.exception
    assert [b for b in at.button if b.label == "Create extracts"]  # the form is there
    assert "needs the" not in texts(at)

    at = as_user("ed@example.com", "Ed")
    at.switch_page(navigation.CONNECTIONS).run()
    assert not at.exception
    assert "Adding, changing and deleting connections needs the admin role; you are editor." \
        in texts(at)
    locked = [b for b in at.button
              if b.label in ("Test connection", "Refresh accounts and templates")]
    assert len(locked) == 2
    for button in locked:
        assert button.disabled and "needs the admin role" in (button.help or "")
    assert not [b for b in at.button if b.label in ("Add connection", "Delete connection")]
