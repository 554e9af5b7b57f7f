"""The Connections page adds an Airbyte source: Install shows the installer's progress and
then the source's own settings (its secret as a password field); a failed install shows
pip's error and adds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.proto.TextInput_pb2 import TextInput

from core import service
from core.connectors.programs import installer
from core.db import Database
from dashboard import navigation
from tests.core.connectors.programs import sources
from tests.dashboard.conftest import open_page, texts


@pytest.fixture
def sources_dir(app_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "sources"
    monkeypatch.setenv("EXTRACTS_SOURCES_DIR", str(folder))
    return folder


def test_an_airbyte_source_is_installed_then_its_settings_fill_the_form(
        app_db: Database, sources_dir: Path) -> None:
    sources.place(sources_dir, "test-source-days", "1")
    at = open_page(navigation.CONNECTIONS)
    at.selectbox(key="connections_datasource").select("airbyte").run()
    at.text_input(key="connections_airbyte_package").set_value("test-source-days")
    at.text_input(key="connections_airbyte_version").set_value("1")
    at.button(key="connections_airbyte_install").click().run()
    assert not at.exception
    assert [s.label for s in at.status] == ["test-source-days is installed"]
    secret = at.text_input(key="connections_airbyte_settings_api_key")
    assert secret.proto.type == TextInput.Type.PASSWORD
    secret.set_value("right-key-1234")
    at.text_input(key="connections_airbyte_settings_mode").set_value("ok")
    at.text_input(key="connections_airbyte_title").set_value("Days")
    at.button(key="FormSubmitter:connections_airbyte_form-Add connection").click().run()
    assert not at.exception
    assert "Added 'Days': test-source-days installed, 1 account(s)." in texts(at)
    with app_db.session() as s:
        added = [c for c in service.list_connections(session=s) if c.datasource == "airbyte"]
    assert [(c.title, c.config["source_config"], c.secrets_set) for c in added] == [
        ("Days", {"mode": "ok"}, ["source_config.api_key"])]
    assert "right-key-1234" not in texts(at)


def test_a_failed_install_shows_pips_error(app_db: Database, sources_dir: Path) -> None:
    at = open_page(navigation.CONNECTIONS)
    at.selectbox(key="connections_datasource").select("airbyte").run()
    at.text_input(key="connections_airbyte_package").set_value(
        "airbyte-source-extracts-no-such-package")
    at.button(key="connections_airbyte_install").click().run()
    assert not at.exception
    assert [s.label for s in at.status] == [
        "Installing airbyte-source-extracts-no-such-package failed"]
    shown = texts(at)
    assert "pip could not install airbyte-source-extracts-no-such-package" in shown
    assert "No matching distribution found" in shown
    assert "connections_airbyte_title" not in [w.key for w in at.text_input]
    with app_db.session() as s:
        assert [c.datasource for c in service.list_connections(session=s)] == ["sample_ads"]


def test_an_airbyte_connection_is_edited_setting_by_setting_and_keeps_its_secret(
        app_db: Database, sources_dir: Path) -> None:
    folder = sources.place(sources_dir, "test-source-days", "1")
    installer.configure(sources_dir)  # as the app does when it opens the database
    with app_db.session() as s:
        added = service.create_connection(session=s, data={
            "datasource": "airbyte", "title": "Days", "config": {
                "package": "test-source-days", "version": "1",
                "source_config": {"api_key": "right-key-1234", "mode": "ok"}}})
    key = f"connections_edit_{added.id}_config"
    at = open_page(navigation.CONNECTIONS)
    assert not at.exception

    # The source's own settings, each its input (from its spec), not one JSON text.
    assert f"{key}_source_config" not in [w.key for w in at.text_area]
    mode = at.text_input(key=f"{key}_source_mode")
    assert mode.value == "ok"
    secret = at.text_input(key=f"{key}_source_api_key")
    assert (secret.proto.type, secret.value) == (TextInput.Type.PASSWORD, "")
    mode.set_value("fast")
    at.button(key=f"FormSubmitter:connections_edit_{added.id}-Test and save").click().run()

    assert not at.exception
    assert "Saved 'Days': tested, accounts and templates refreshed." in texts(at)
    with app_db.session() as s:
        [saved] = [c for c in service.list_connections(session=s) if c.id == added.id]
    assert (saved.config["source_config"], saved.secrets_set) == (
        {"mode": "fast"}, ["source_config.api_key"])
    # The stored key, not an empty one, reached the source's check.
    [check] = [c for c in sources.calls(folder) if c["command"] == "check"][-1:]
    assert check["config"] == {"api_key": "right-key-1234", "mode": "fast"}
