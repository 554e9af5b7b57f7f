"""Connections through the service facade: secrets encrypted at rest, bad config refused,
checking credentials, refreshing accounts."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import errors, service
from core.connectors import registry
from core.connectors.base import (
    AccountSpec,
    ConnectionInfo,
    FetchRequest,
    FetchResult,
    FieldSpec,
    SourceError,
    TemplateSpec,
)
from core.db import Database, database_of
from core.models import Account, Connection, Run

SECRET = "vault-token-5f1c9e7a2b"


class VaultSource:
    """A small datasource with one secret setting (api_key) and one plain one (region)."""

    name = "vault_test"
    title = "Vault (test)"
    config_schema: ClassVar[Mapping[str, Any]] = {
        "properties": {
            "api_key": {"type": "string", "title": "API key", "secret": True},
            "region": {"type": "string", "title": "Region", "default": "eu",
                       "enum": ["eu", "us"]},
        },
        "required": ["api_key"],
    }

    def __init__(self) -> None:
        self.accounts = [AccountSpec("v-1", "Vault One"), AccountSpec("v-2", "Vault Two")]
        self.seen: list[ConnectionInfo] = []

    def check(self, connection: ConnectionInfo) -> str:
        self.seen.append(connection)
        if connection.secrets.get("api_key") != SECRET:
            raise SourceError("the API key was refused; paste a current key")
        return f"signed in to region {connection.config['region']}"

    def discover_accounts(self, connection: ConnectionInfo) -> list[AccountSpec]:
        if connection.secrets.get("api_key") != SECRET:
            raise SourceError("the API key was refused")
        return list(self.accounts)

    def templates(self, connection: ConnectionInfo) -> list[TemplateSpec]:
        return [TemplateSpec(name="items", title="Items", description="",
                             fields=(FieldSpec("item_id", "string", "dimension", True),),
                             date_field=None, default_fields=("item_id",))]

    def fetch(self, request: FetchRequest) -> FetchResult:
        raise SourceError("not needed in these tests")


@pytest.fixture
def vault(monkeypatch: pytest.MonkeyPatch) -> Iterator[VaultSource]:
    """The test datasource, registered only for the test (the registry is restored after)."""
    monkeypatch.setattr(registry, "_CONNECTORS", dict(registry._CONNECTORS))
    connector = VaultSource()
    registry.register(connector)
    yield connector


def create_vault(session: Session, **config: Any) -> Any:
    return service.create_connection(session=session, data={
        "datasource": "vault_test", "title": "Vault", "config": {"api_key": SECRET, **config}})


def stored_bytes(var_dir: Path) -> bytes:
    """Every byte SQLite keeps on disk: the database files and their -wal/-shm companions."""
    return b"".join(p.read_bytes() for p in sorted(var_dir.iterdir())
                    if p.name.endswith((".db", ".db-wal", ".db-shm")))


def test_a_secret_is_encrypted_at_rest_and_never_shown(db: Database, session: Session,
                                                       vault: VaultSource) -> None:
    created = create_vault(session, region="us")
    session.commit()

    files = [db.settings.var_dir / "extracts.db", db.settings.var_dir / "extracts.db-wal"]
    assert all(f.exists() for f in files)
    on_disk = stored_bytes(db.settings.var_dir)
    assert b"Vault One" in on_disk  # the check can see what was written ...
    assert SECRET.encode() not in on_disk  # ... and the secret is not there in plain text

    for shown in (created, service.get_connection(session=session, connection_id=created.id),
                  *service.list_connections(session=session, datasource="vault_test")):
        assert SECRET not in shown.model_dump_json()
        assert shown.config == {"region": "us"}
        assert shown.secret_fields == ["api_key"]
    stored = session.get(Connection, created.id)
    assert stored is not None and SECRET not in stored.secrets and stored.secrets != ""
    # ... yet the connector gets it back, decrypted.
    result = service.test_connection(session=session, connection_id=created.id)
    assert result.ok and vault.seen[-1].secrets == {"api_key": SECRET}


def test_create_connection_loads_accounts_and_templates(session: Session,
                                                        vault: VaultSource) -> None:
    created = create_vault(session)

    assert created.datasource == "vault_test" and created.title == "Vault"
    assert created.config == {"region": "eu"}  # the default filled in
    assert [(a.external_id, a.name) for a in created.accounts] == [
        ("v-1", "Vault One"), ("v-2", "Vault Two")]
    assert [t.title for t in service.list_templates(session=session,
                                                   datasource="vault_test")] == ["Items"]


def test_bad_config_is_refused_with_the_field_named_and_nothing_saved(
        session: Session, vault: VaultSource) -> None:
    before = (session.scalar(select(func.count()).select_from(Connection)),
              session.scalar(select(func.count()).select_from(Account)))

    with pytest.raises(errors.Invalid) as info:
        service.create_connection(session=session, data={
            "datasource": "vault_test", "title": " ", "max_concurrent_runs": 0,
            "config": {"region": "mars", "colour": "blue"}})

    exc = info.value
    assert exc.for_field("config.api_key") == ["is required"]
    assert exc.for_field("config.region") == ["must be one of eu, us, not 'mars'"]
    assert "unknown setting(s) colour; known settings: api_key, region" in exc.for_field(
        "config")
    assert exc.for_field("title") == ["must not be empty; name the connection"]
    assert exc.for_field("max_concurrent_runs") == ["must be 1 or more"]
    after = (session.scalar(select(func.count()).select_from(Connection)),
             session.scalar(select(func.count()).select_from(Account)))
    assert after == before
    assert not session.new


def test_a_config_value_of_the_wrong_type_names_the_field(session: Session,
                                                          vault: VaultSource) -> None:
    with pytest.raises(errors.Invalid) as info:
        create_vault(session, region=5)

    assert [str(p) for p in info.value.problems] == ["config.region: must be a string, not 5"]


def test_an_unknown_datasource_names_the_known_ones(session: Session) -> None:
    with pytest.raises(errors.Invalid) as info:
        service.create_connection(session=session, data={"datasource": "nope", "title": "x"})

    [message] = info.value.for_field("datasource")
    assert message.startswith("unknown datasource 'nope'; known: ")
    assert "sample_ads" in message


def test_test_connection_says_what_happened(session: Session, vault: VaultSource) -> None:
    good = create_vault(session)
    assert service.test_connection(session=session, connection_id=good.id).model_dump() == {
        "ok": True, "message": "signed in to region eu"}
    assert service.test_connection(session=session, connection_id=1).model_dump() == {
        "ok": True, "message": "Sample Ads is reachable: 3 demo accounts"}

    # The stored key no longer works: the check fails with the source's message.
    stored = session.get(Connection, good.id)
    assert stored is not None
    stored.secrets = database_of(session).cipher.encrypt({"api_key": "revoked"})

    result = service.test_connection(session=session, connection_id=good.id)

    assert result.model_dump() == {"ok": False,
                                   "message": "the API key was refused; paste a current key"}
    with pytest.raises(errors.Conflict) as info:
        service.refresh_accounts(session=session, connection_id=good.id)
    assert str(info.value) == "could not list the accounts of 'Vault': the API key was refused"


def test_refresh_accounts_adds_new_ones_and_renames(session: Session,
                                                    vault: VaultSource) -> None:
    created = create_vault(session)
    ids = {a.external_id: a.id for a in created.accounts}
    vault.accounts = [AccountSpec("v-1", "Vault One (renamed)"), AccountSpec("v-2", "Vault Two"),
                      AccountSpec("v-3", "Vault Three")]

    accounts = service.refresh_accounts(session=session, connection_id=created.id)

    assert [(a.external_id, a.name) for a in accounts] == [
        ("v-1", "Vault One (renamed)"), ("v-2", "Vault Two"), ("v-3", "Vault Three")]
    assert {a.external_id: a.id for a in accounts if a.external_id != "v-3"} == ids
    listed = service.list_accounts(session=session, connection_id=created.id)
    assert [a.name for a in listed] == ["Vault One (renamed)", "Vault Two", "Vault Three"]
    # Refreshing again changes nothing.
    again = service.refresh_accounts(session=session, connection_id=created.id)
    assert [a.id for a in again] == [a.id for a in accounts]


# -- edit, delete ------------------------------------------------------------------------


def stored_config(db: Database, connection_id: int) -> tuple[str, dict[str, Any], dict[str, str]]:
    """Title, plain config and decrypted secrets as a fresh session reads them."""
    with db.session() as s:
        stored = s.get(Connection, connection_id)
        assert stored is not None
        return stored.title, dict(stored.config), db.cipher.decrypt(stored.secrets)


def test_an_edit_keeps_the_secret_unless_a_new_one_is_given(db: Database,
                                                           vault: VaultSource) -> None:
    with db.session() as s:
        created = create_vault(s)
        assert created.secrets_set == ["api_key"]
        renamed = service.update_connection(session=s, connection_id=created.id, data={
            "title": "Vault EU", "config": {"region": "us", "api_key": ""}})

    assert (renamed.title, renamed.config, renamed.secrets_set) == (
        "Vault EU", {"region": "us"}, ["api_key"])
    assert stored_config(db, created.id) == ("Vault EU", {"region": "us"},
                                              {"api_key": SECRET})
    # The changed settings were tested with the kept secret before they were saved.
    assert (vault.seen[-1].config["region"], vault.seen[-1].secrets) == ("us",
                                                                         {"api_key": SECRET})


def test_an_edit_that_fails_its_test_or_its_checks_saves_nothing(db: Database,
                                                                 vault: VaultSource) -> None:
    with db.session() as s:
        created = create_vault(s)
    before = stored_config(db, created.id)

    with pytest.raises(errors.Invalid) as refused, db.session() as s:
        service.update_connection(session=s, connection_id=created.id, data={
            "title": "Renamed", "config": {"api_key": "revoked", "region": "us"}})
    assert refused.value.for_field("config") == [
        "the test of the changed settings failed, nothing was saved: the API key was "
        "refused; paste a current key"]
    assert stored_config(db, created.id) == before

    with pytest.raises(errors.Invalid) as bad, db.session() as s:
        service.update_connection(session=s, connection_id=created.id, data={
            "title": " ", "max_concurrent_runs": 0, "config": {"region": "mars", "x": 1}})
    assert bad.value.for_field("config.region") == ["must be one of eu, us, not 'mars'"]
    assert bad.value.for_field("title") == ["must not be empty; name the connection"]
    assert bad.value.for_field("max_concurrent_runs") == ["must be 1 or more"]
    assert "unknown setting(s) x; known settings: api_key, region" in bad.value.for_field(
        "config")
    assert stored_config(db, created.id) == before

    with pytest.raises(errors.Invalid) as wrong_key, db.session() as s:
        service.update_connection(session=s, connection_id=created.id,
                                  data={"datasource": "sql"})
    assert "datasource" in str(wrong_key.value)


def test_delete_is_refused_while_extracts_use_the_connection(db: Database,
                                                             vault: VaultSource) -> None:
    with db.session() as s:
        created = create_vault(s)
        [template] = service.list_templates(session=s, datasource="vault_test")
        made = service.create_extracts(session=s, data={
            "data_table_title": "Vault items", "template_id": template.id,
            "template_settings": {"fields": ["item_id"]},
            "accounts": [a.id for a in created.accounts]})

    with pytest.raises(errors.Conflict) as refused, db.session() as s:
        service.delete_connection(session=s, connection_id=created.id)
    listed = ", ".join(f"{e.id} {e.title!r}" for e in made)
    assert str(refused.value) == (
        f"connection 'Vault' is used by 2 extract(s): {listed}; delete those extracts first, "
        "or delete them with the connection (delete_extracts=true)")
    with db.session() as s:
        assert service.get_connection(session=s, connection_id=created.id).title == "Vault"

    with db.session() as s:
        deleted = service.delete_connection(session=s, connection_id=created.id,
                                            delete_extracts=True)
    assert deleted.deleted_extract_ids == [e.id for e in made]
    with db.session() as s:
        for extract in made:
            with pytest.raises(errors.NotFound):
                service.get_extract(session=s, extract_id=extract.id)
        with pytest.raises(errors.NotFound):
            service.get_connection(session=s, connection_id=created.id)
        assert s.scalar(select(func.count()).select_from(Account).where(
            Account.connection_id == created.id)) == 0
        # The data table stays, with its template.
        [table] = [t for t in service.list_data_tables(session=s) if t.title == "Vault items"]
        assert table.extract_ids == []


def test_an_edit_whose_refresh_fails_saves_nothing(db: Database, vault: VaultSource,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with db.session() as s:
        created = create_vault(s)
    before = stored_config(db, created.id)

    def broken(connection: ConnectionInfo) -> list[TemplateSpec]:
        raise SourceError("the catalog endpoint is down")

    # The check passes, then listing the templates of the new settings fails.
    monkeypatch.setattr(vault, "templates", broken)
    with pytest.raises(errors.Conflict) as failed, db.session() as s:
        service.update_connection(session=s, connection_id=created.id,
                                  data={"title": "EU", "config": {"region": "us"}})

    assert str(failed.value) == ("could not list the templates of 'EU': the catalog "
                                 "endpoint is down")
    assert stored_config(db, created.id) == before


def test_delete_with_its_extracts_is_refused_while_one_runs(db: Database,
                                                            vault: VaultSource) -> None:
    with db.session() as s:
        created = create_vault(s)
        [template] = service.list_templates(session=s, datasource="vault_test")
        [extract] = service.create_extracts(session=s, data={
            "data_table_title": "Vault items", "template_id": template.id,
            "template_settings": {"fields": ["item_id"]},
            "accounts": [created.accounts[0].id]})
        [run] = service.run_extract(session=s, extract_id=extract.id)
        running = s.get(Run, run.id)
        assert running is not None
        running.status = "running"

    with pytest.raises(errors.Conflict) as refused, db.session() as s:
        service.delete_connection(session=s, connection_id=created.id, delete_extracts=True)

    assert str(refused.value) == (f"extract {extract.id} has run {run.id} in progress; cancel "
                                  "it first, then delete")
    with db.session() as s:
        assert service.get_extract(session=s, extract_id=extract.id).id == extract.id
        assert service.get_connection(session=s, connection_id=created.id).title == "Vault"


def test_a_connection_without_a_secret_says_none_is_set(session: Session,
                                                        tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("day,clicks\n2026-11-01,3\n")
    made = service.create_connection(session=session, data={
        "datasource": "files", "title": "CSV", "config": {"path": str(tmp_path)}})
    assert made.secret_fields == [] and made.secrets_set == []
    sqlite3.connect(tmp_path / "s.db").close()
    sql = service.create_connection(session=session, data={
        "datasource": "sql", "title": "SQLite", "config": {"url": f"sqlite:///{tmp_path}/s.db"}})
    assert sql.secret_fields == ["password"] and sql.secrets_set == []


def test_refresh_connection_says_which_accounts_came_and_went(session: Session,
                                                              vault: VaultSource) -> None:
    created = create_vault(session)
    vault.accounts = [AccountSpec("v-1", "Vault One"), AccountSpec("v-3", "Vault Three")]

    changes = service.refresh_connection(session=session, connection_id=created.id)

    assert (changes.accounts_added, changes.accounts_missing) == (["Vault Three"],
                                                                  ["Vault Two"])
    assert changes.summary == ("accounts added: Vault Three; accounts no longer listed "
                               "(kept): Vault Two; templates unchanged")
    assert [a.name for a in service.list_accounts(session=session,
                                                  connection_id=created.id)] == [
        "Vault One", "Vault Two", "Vault Three"]


def test_the_test_datasource_is_gone_after_the_tests_that_used_it() -> None:
    # Last in the file: the fixture restored the registry after every test above.
    assert "vault_test" not in registry.names()
    assert "sample_ads" in registry.names()
