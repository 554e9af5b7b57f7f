"""Datasources, connections, accounts, templates and data tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from core import audit, errors, schemas
from core.clock import utcnow
from core.connectors import registry
from core.connectors.base import (
    AccountSpec,
    ConnectionInfo,
    SourceError,
    TransientError,
    secret_names,
    validate_options,
)
from core.db import database_of
from core.models import Account, AppState, Connection, DataTable, Extract, Template
from core.redact import Redactor
from core.services import templates
from core.services.common import load
from core.vocabulary import Role


def list_datasources() -> list[schemas.DatasourceOut]:
    """Every datasource the product can connect to, with its config form's schema."""
    out = []
    for name in registry.names():
        connector = registry.get(name)
        out.append(schemas.DatasourceOut(name=name, title=connector.title,
                                         config_schema=dict(connector.config_schema)))
    return out


def connection_info(session: Session, connection: Connection) -> ConnectionInfo:
    """What a connector sees of a connection, secrets decrypted."""
    secrets = database_of(session).cipher.decrypt(connection.secrets)
    return ConnectionInfo(id=connection.id, datasource=connection.datasource,
                          config={**connection.config, **secrets}, secrets=secrets)


def said(session: Session, connection: Connection, exc: Exception) -> str:
    """What a source said, with the connection's secrets masked (a source may echo them)."""
    info = connection_info(session, connection)
    return Redactor(info.secrets, user=info.config.get("username"))(str(exc)) or ""


def _connection_out(connection: Connection) -> schemas.ConnectionOut:
    schema = registry.get(connection.datasource).config_schema
    session = object_session(connection)
    assert session is not None
    secrets = database_of(session).cipher.decrypt(connection.secrets)
    return schemas.ConnectionOut(
        id=connection.id, datasource=connection.datasource, title=connection.title,
        config=dict(connection.config), secret_fields=sorted(secret_names(schema)),
        secrets_set=sorted(k for k, v in secrets.items() if v),
        max_concurrent_runs=connection.max_concurrent_runs, created_at=connection.created_at,
        accounts=[_account_out(a) for a in connection.accounts],
    )


def _account_out(account: Account) -> schemas.AccountOut:
    return schemas.AccountOut(id=account.id, connection_id=account.connection_id,
                              external_id=account.external_id, name=account.name)


def checked_config(connector: Any, given: dict[str, Any]) -> tuple[dict[str, Any],
                                                                  list[errors.Problem]]:
    """A connection's settings with defaults filled in, and every problem with them: the
    schema's, then those a flat schema cannot express (a URL's shape, settings that go
    together)."""
    config, problems = validate_options(connector.config_schema, given, "config")
    validate_config = getattr(connector, "validate_config", None)
    if validate_config is not None and not problems:
        problems = [*problems, *validate_config(config)]
    return config, problems


def split_secrets(connector: Any, config: dict[str, Any]) -> tuple[dict[str, Any],
                                                                   dict[str, str]]:
    """A connection's settings apart from its secrets (to be stored encrypted): those the
    schema marks, and those a connector finds inside its settings (an Airbyte source's
    airbyte_secret values, by its spec)."""
    secret_keys = secret_names(connector.config_schema)
    plain = {k: v for k, v in config.items() if k not in secret_keys}
    secret = {k: str(v) for k, v in config.items() if k in secret_keys}
    split = getattr(connector, "split_secrets", None)
    if split is not None:
        plain, inner = split(plain)
        secret.update(inner)
    return plain, secret


def create_connection(*, session: Session, data: schemas.ConnectionCreate | dict[str, Any],
                      now: datetime | None = None) -> schemas.ConnectionOut:
    """Save a connection (secrets encrypted), then load its accounts and templates."""
    audit.require(session, Role.ADMIN, "creating a connection")
    body = schemas.parse(schemas.ConnectionCreate, data)
    connector = registry.get(body.datasource)
    problems: list[errors.Problem] = []
    if not body.title.strip():
        problems.append(errors.Problem("title", "must not be empty; name the connection"))
    if body.max_concurrent_runs < 1:
        problems.append(errors.Problem("max_concurrent_runs", "must be 1 or more"))
    config, config_problems = checked_config(connector, body.config)
    problems += config_problems
    if problems:
        raise errors.Invalid(problems)
    plain, secret = split_secrets(connector, config)
    connection = Connection(
        datasource=body.datasource, title=body.title.strip(), config=plain,
        secrets=database_of(session).cipher.encrypt(secret),
        max_concurrent_runs=body.max_concurrent_runs, created_at=now or utcnow(),
    )
    session.add(connection)
    session.flush()
    refresh_accounts(session=session, connection_id=connection.id)
    sync_templates(session=session, connection_id=connection.id)
    return _connection_out(connection)


def get_connection(*, session: Session, connection_id: int) -> schemas.ConnectionOut:
    """One connection with its accounts (secrets never included)."""
    return _connection_out(load(session, Connection, connection_id, "connection"))


def list_connections(*, session: Session, datasource: str | None = None
                     ) -> list[schemas.ConnectionOut]:
    """Connections, optionally of one datasource."""
    query = select(Connection).order_by(Connection.id)
    if datasource is not None:
        query = query.where(Connection.datasource == datasource)
    return [_connection_out(c) for c in session.scalars(query)]


def connection_datasources(*, session: Session) -> list[str]:
    """The datasources that have a connection, for filters."""
    return list(session.scalars(select(Connection.datasource).distinct()
                                .order_by(Connection.datasource)))


def test_connection(*, session: Session, connection_id: int) -> schemas.CheckResult:
    """Try a connection's credentials against its source; say what happened."""
    audit.require(session, Role.ADMIN, "testing a connection")
    connection = load(session, Connection, connection_id, "connection")
    connector = registry.get(connection.datasource)
    try:
        message = connector.check(connection_info(session, connection))
    except (SourceError, TransientError) as exc:
        return schemas.CheckResult(ok=False, message=said(session, connection, exc))
    return schemas.CheckResult(ok=True, message=message)


def refresh_accounts(*, session: Session, connection_id: int) -> list[schemas.AccountOut]:
    """Ask the source for the connection's accounts; add new ones and update names."""
    audit.require(session, Role.ADMIN, "refreshing a connection's accounts")
    connection = load(session, Connection, connection_id, "connection")
    store_accounts(session, connection, discover_accounts(session, connection))
    return [_account_out(a) for a in connection.accounts]


def discover_accounts(session: Session, connection: Connection) -> list[AccountSpec]:
    """The accounts the source lists now; Conflict saying why when it cannot."""
    connector = registry.get(connection.datasource)
    try:
        return connector.discover_accounts(connection_info(session, connection))
    except (SourceError, TransientError) as exc:
        raise errors.Conflict(f"could not list the accounts of {connection.title!r}: "
                              f"{said(session, connection, exc)}") from None


def store_accounts(session: Session, connection: Connection, found: list[AccountSpec]
                   ) -> None:
    """Add the accounts not stored yet and update the names of the others."""
    existing = {a.external_id: a for a in connection.accounts}
    for spec in found:
        if spec.external_id in existing:
            existing[spec.external_id].name = spec.name
        else:
            connection.accounts.append(Account(external_id=spec.external_id, name=spec.name))
    session.flush()


def list_accounts(*, session: Session, connection_id: int) -> list[schemas.AccountOut]:
    """The accounts of one connection."""
    connection = load(session, Connection, connection_id, "connection")
    return [_account_out(a) for a in connection.accounts]


def sync_templates(*, session: Session, connection_id: int, now: datetime | None = None
                   ) -> list[schemas.TemplateChange]:
    """Store the templates a connection offers (shared ones once per datasource); a template
    or field gone from the source is kept, marked gone, while extracts use it."""
    audit.require(session, Role.ADMIN, "refreshing a connection's templates")
    connection = load(session, Connection, connection_id, "connection")
    connector = registry.get(connection.datasource)
    # Tables of a database, files of a folder: such templates belong to their connection.
    owner = connection.id if getattr(connector, "templates_per_connection", False) else None
    try:
        specs = connector.templates(connection_info(session, connection))
    except (SourceError, TransientError) as exc:
        raise errors.Conflict(f"could not list the templates of {connection.title!r}: "
                              f"{said(session, connection, exc)}") from None
    return templates.store(session, connection.datasource, owner, specs, now or utcnow())


def _template_out(template: Template) -> schemas.TemplateOut:
    return schemas.TemplateOut(
        id=template.id, datasource=template.datasource, connection_id=template.connection_id,
        name=template.name, title=template.title, description=template.description,
        fields=[schemas.FieldOut(**{"title": f["name"], **f}) for f in template.fields],
        date_field=template.date_field, default_fields=list(template.default_fields),
        default_lookback_days=template.default_lookback_days,
        depth_limit_days=template.depth_limit_days,
        settings_schema=dict(template.settings_schema), gone_at=template.gone_at,
    )


def list_templates(*, session: Session, datasource: str | None = None,
                   connection_id: int | None = None, include_gone: bool = False
                   ) -> list[schemas.TemplateOut]:
    """Templates, optionally of one datasource or usable with one connection; those gone
    from their source only when asked."""
    query = select(Template).order_by(Template.id)
    if not include_gone:
        query = query.where(Template.gone_at.is_(None))
    if datasource is not None:
        query = query.where(Template.datasource == datasource)
    if connection_id is not None:
        query = query.where((Template.connection_id.is_(None))
                            | (Template.connection_id == connection_id))
    return [_template_out(t) for t in session.scalars(query)]


def get_template(*, session: Session, template_id: int) -> schemas.TemplateOut:
    """One template with its fields and settings schema."""
    return _template_out(load(session, Template, template_id, "template"))


def _data_table_out(session: Session, table: DataTable) -> schemas.DataTableOut:
    warehouse = database_of(session).warehouse
    extract_ids = list(session.scalars(
        select(Extract.id).where(Extract.data_table_id == table.id).order_by(Extract.id)))
    return schemas.DataTableOut(
        id=table.id, title=table.title, table_name=table.table_name,
        template_id=table.template_id, template_title=table.template.title,
        created_at=table.created_at, extract_ids=extract_ids,
        columns=warehouse.columns(table.table_name),
        row_count=warehouse.count_rows(table.table_name),
    )


def list_data_tables(*, session: Session, template_id: int | None = None
                     ) -> list[schemas.DataTableOut]:
    """Data tables with their extracts, columns and row counts."""
    query = select(DataTable).order_by(DataTable.title)
    if template_id is not None:
        query = query.where(DataTable.template_id == template_id)
    return [_data_table_out(session, t) for t in session.scalars(query)]


def get_data_table(*, session: Session, data_table_id: int) -> schemas.DataTableOut:
    """One data table with its extracts, columns and row count."""
    return _data_table_out(session, load(session, DataTable, data_table_id, "data table"))


def preview_rows(*, session: Session, data_table_id: int | None = None,
                 extract_id: int | None = None, limit: int = 50, offset: int = 0
                 ) -> pd.DataFrame:
    """The latest rows of a data table, or of the part one extract wrote."""
    if extract_id is not None:
        extract = load(session, Extract, extract_id, "extract")
        table = extract.data_table
    elif data_table_id is not None:
        table = load(session, DataTable, data_table_id, "data table")
    else:
        raise errors.Invalid("give data_table_id or extract_id", field="data_table_id")
    if not 1 <= limit <= 10_000:
        raise errors.Invalid(f"must be 1-10000, not {limit}", field="limit")
    if offset < 0:
        raise errors.Invalid(f"must be 0 or more, not {offset}", field="offset")
    order_by = table.template.date_field or "__insert_date"
    return database_of(session).warehouse.read_rows(
        table.table_name, extract_id=extract_id, order_by=order_by, limit=limit, offset=offset)


def seed_demo(*, session: Session, now: datetime | None = None) -> None:
    """On first start, create the Sample Ads connection so a new user can begin at once."""
    if session.get(AppState, "demo_seeded") is not None:
        return
    now = now or utcnow()
    session.add(AppState(key="demo_seeded", value=now.isoformat()))
    if session.scalar(select(func.count(Connection.id))) == 0:
        create_connection(session=session, data={"datasource": "sample_ads",
                                                 "title": "Sample Ads"}, now=now)
