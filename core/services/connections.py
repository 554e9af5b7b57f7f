"""Changing connections after they are made: edit (tested before it is saved), delete, and
refresh of their accounts and templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, errors, schemas
from core.clock import utcnow
from core.connectors import registry
from core.connectors.base import (
    ConnectionInfo,
    SourceError,
    TransientError,
    secret_names,
)
from core.db import database_of
from core.errors import Problem
from core.models import Connection, DataTable, Extract, Template
from core.redact import Redactor
from core.services import catalog, extracts, templates
from core.services.common import load
from core.vocabulary import Role


def update_connection(*, session: Session, connection_id: int,
                      data: schemas.ConnectionPatch | dict[str, Any],
                      now: datetime | None = None) -> schemas.ConnectionOut:
    """Change a connection's title, settings or run cap; a secret only when a new value is
    given. Changed settings are tested against the source before anything is saved."""
    audit.require(session, Role.ADMIN, "changing a connection")
    body = schemas.parse(schemas.ConnectionPatch, data)
    connection = load(session, Connection, connection_id, "connection")
    connector = registry.get(connection.datasource)
    schema = connector.config_schema
    secret_keys = secret_names(schema)
    known = set(schema.get("properties", {}))
    problems: list[Problem] = []
    if body.title is not None and not body.title.strip():
        problems.append(Problem("title", "must not be empty; name the connection"))
    if body.max_concurrent_runs is not None and body.max_concurrent_runs < 1:
        problems.append(Problem("max_concurrent_runs", "must be 1 or more"))
    cipher = database_of(session).cipher
    # Keys the schema does not declare (a sql connection's custom queries) are kept as they are.
    kept = {k: v for k, v in connection.config.items() if k not in known}
    stored = cipher.decrypt(connection.secrets)
    # Secrets a connector found inside its settings (an Airbyte source's airbyte_secret
    # values): kept unless the new settings give them again.
    inner = {k: v for k, v in stored.items() if k not in known}
    current = {**{k: v for k, v in connection.config.items() if k in known},
               **{k: v for k, v in stored.items() if k in known}}
    join = getattr(connector, "join_secrets", None)
    if join is not None:
        current = join(current, inner)
    config = current
    if body.config is not None:
        merged = dict(current)
        for name, value in body.config.items():
            if name in secret_keys and value in (None, ""):
                continue  # an empty secret input keeps the stored value
            if value is None:
                merged.pop(name, None)  # back to its default
            else:
                merged[name] = value
        if join is not None:
            merged = join(merged, inner)
        config, config_problems = catalog.checked_config(connector, merged)
        problems += config_problems
    if problems:
        raise errors.Invalid(problems)
    changed = config != current
    if changed:
        plain, secrets = catalog.split_secrets(connector, config)
        info = ConnectionInfo(id=connection.id, datasource=connection.datasource,
                              config={**kept, **plain, **secrets}, secrets=secrets)
        try:
            connector.check(info)
        except (SourceError, TransientError) as exc:
            masked = Redactor(secrets, user=info.config.get("username"))(str(exc))
            raise errors.Invalid(f"the test of the changed settings failed, nothing was "
                                 f"saved: {masked}", field="config") from None
        connection.config = {**kept, **plain}
        connection.secrets = cipher.encrypt(secrets)
    if body.title is not None:
        connection.title = body.title.strip()
    if body.max_concurrent_runs is not None:
        connection.max_concurrent_runs = body.max_concurrent_runs
    session.flush()
    if changed:
        # New settings may reach other accounts and tables; a failure here rolls back the edit.
        refresh_connection(session=session, connection_id=connection.id, now=now)
    return catalog.get_connection(session=session, connection_id=connection.id)


def delete_connection(*, session: Session, connection_id: int, delete_extracts: bool = False,
                      now: datetime | None = None) -> schemas.ConnectionDeleted:
    """Delete a connection with its accounts and templates; refused while extracts use it,
    unless they are to be deleted too (their data tables and rows stay)."""
    audit.require(session, Role.ADMIN, "deleting a connection")
    connection = load(session, Connection, connection_id, "connection")
    using = list(session.scalars(select(Extract).where(Extract.connection_id == connection_id)
                                 .order_by(Extract.id)))
    if using and not delete_extracts:
        listed = ", ".join(f"{e.id} {e.title!r}" for e in using[:20])
        more = f" and {len(using) - 20} more" if len(using) > 20 else ""
        raise errors.Conflict(
            f"connection {connection.title!r} is used by {len(using)} extract(s): {listed}"
            f"{more}; delete those extracts first, or delete them with the connection "
            "(delete_extracts=true)")
    deleted = []
    for extract in using:
        deleted.append(extract.id)
        extracts.delete_extract(session=session, extract_id=extract.id)
    for template in session.scalars(select(Template).where(
            Template.connection_id == connection_id)):
        made = session.scalar(select(DataTable.id).where(DataTable.template_id == template.id)
                              .limit(1))
        if made is None:
            session.delete(template)
        else:
            # A data table made from it keeps its rows and needs its fields: keep the
            # template, no longer offered, without the connection.
            template.connection_id = None
            template.gone_at = template.gone_at or now or utcnow()
    session.flush()
    session.delete(connection)
    session.flush()
    return schemas.ConnectionDeleted(id=connection_id, deleted_extract_ids=deleted)


def refresh_connection(*, session: Session, connection_id: int, now: datetime | None = None
                       ) -> schemas.RefreshOut:
    """Ask the source again for the connection's accounts and templates; say what changed
    (fields added, removed, retyped). What disappeared is marked gone while extracts use it."""
    audit.require(session, Role.ADMIN, "refreshing a connection")
    connection = load(session, Connection, connection_id, "connection")
    before = {a.external_id for a in connection.accounts}
    found = catalog.discover_accounts(session, connection)
    catalog.store_accounts(session, connection, found)
    listed = {a.external_id for a in found}
    added = [a.name for a in connection.accounts if a.external_id not in before]
    missing = [a.name for a in connection.accounts if a.external_id not in listed]
    changes = catalog.sync_templates(session=session, connection_id=connection_id, now=now)
    parts = []
    if added:
        parts.append(f"accounts added: {', '.join(added)}")
    if missing:
        parts.append(f"accounts no longer listed (kept): {', '.join(missing)}")
    parts.append(templates.summary(changes))
    return schemas.RefreshOut(connection_id=connection_id, accounts_added=added,
                              accounts_missing=missing, templates=changes,
                              summary="; ".join(parts))
