from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import errors, service
from core.db import Database
from dashboard import navigation
from tests.dashboard.conftest import open_page, texts

PAGE = navigation.SETTINGS


def create(at: AppTest, name: str) -> AppTest:
    at.text_input(key="settings_key_name").input(name)
    return next(b for b in at.button if b.label == "Create key").click().run()


def test_a_new_key_shows_its_secret_once_and_then_authenticates(app_db: Database) -> None:
    at = open_page(PAGE)
    assert not at.exception
    assert "No API keys yet" in texts(at)

    create(at, "nightly-report")

    assert not at.exception
    [shown] = at.get_by_key("settings_new_key").code
    secret = shown.value
    assert secret.startswith("sk_")
    assert "shown only this once" in texts(at)
    listed = at.dataframe[0].value
    assert list(listed["name"]) == ["nightly-report"]
    assert list(listed["last_used"]) == ["never"] and list(listed["revoked"]) == [""]
    key_id = listed["key_id"][0]
    with app_db.session() as s:
        assert service.authenticate(session=s, bearer=secret).name.startswith(f"{key_id} ")
        assert service.issue_token(session=s, key_id=key_id, secret=secret).access_token

    at.run()  # any later run of the page: the secret is gone for good

    assert not at.code
    assert secret not in texts(at)
    assert secret not in repr(at.session_state)
    assert list(at.dataframe[0].value["last_used"]) != ["never"]


def test_a_key_needs_a_name(app_db: Database) -> None:
    at = create(open_page(PAGE), "   ")

    assert not at.exception
    assert "name: must not be empty" in texts(at)
    assert not at.code
    with app_db.session() as s:
        assert service.list_api_keys(session=s) == []


def test_revoke_asks_first_then_the_key_stops_working(app_db: Database) -> None:
    with app_db.session() as s:
        kept = service.create_api_key(session=s, name="dashboard export")
        key = service.create_api_key(session=s, name="old script")
    at = open_page(PAGE)

    at.selectbox(key="settings_revoke_key").select(key.key_id).run()
    at.button(key="settings_revoke").click().run()
    assert "Revoke 'old script'" in texts(at)
    at.button(key="settings_revoke_cancel").click().run()
    with app_db.session() as s:
        assert service.authenticate(session=s, bearer=key.secret).name.startswith(f"{key.key_id} ")

    at.selectbox(key="settings_revoke_key").select(key.key_id).run()
    at.button(key="settings_revoke").click().run()
    at.button(key="settings_revoke_confirm").click().run()

    assert not at.exception
    assert f"Revoked 'old script' ({key.key_id})." in texts(at)
    table = at.dataframe[0].value.set_index("key_id")
    assert table.loc[key.key_id, "revoked"] != ""
    assert table.loc[kept.key_id, "revoked"] == ""
    assert at.selectbox(key="settings_revoke_key").options == [
        f"dashboard export ({kept.key_id})"]
    with app_db.session() as s:
        with pytest.raises(errors.Unauthorized, match="revoked"):
            service.authenticate(session=s, bearer=key.secret)
        acting = service.authenticate(session=s, bearer=kept.secret)
        assert acting.name.startswith(f"{kept.key_id} ")
