"""Datasources, extract templates, connections, accounts and data tables."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Path, Query, Request, status

from api.deps import MAX_ID, ConnectionId, DataTableId, NowDep, SessionDep, TemplateId
from api.models import PageNumber, Paginated, Row, paginated
from api.routing import BothSlashesRouter
from core import errors, schemas, service

router = BothSlashesRouter(tags=["catalog"])

Datasource = Annotated[str, Path(max_length=64, description="The datasource's name.")]


def _known_datasource(name: str) -> None:
    known = [d.name for d in service.list_datasources()]
    if name not in known:
        raise errors.NotFound(f"datasource {name!r} does not exist; known: {', '.join(known)}")


@router.get("/v3/datasources", response_model=list[schemas.DatasourceOut])
def list_datasources() -> list[schemas.DatasourceOut]:
    """Every datasource the product can connect to, with its connection settings' schema."""
    return service.list_datasources()


@router.get("/v3/datasources/{datasource}/extract-templates",
            response_model=list[schemas.TemplateOut])
def list_templates(session: SessionDep, datasource: Datasource,
                   connection_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
                   ) -> list[schemas.TemplateOut]:
    """The extract templates of a datasource (optionally those usable with one connection)."""
    _known_datasource(datasource)
    return service.list_templates(session=session, datasource=datasource,
                                  connection_id=connection_id)


@router.get("/v3/extract-template/{template_id}/", response_model=schemas.TemplateOut)
def get_template(session: SessionDep, template_id: TemplateId) -> schemas.TemplateOut:
    """One extract template with its fields, date field and settings schema."""
    return service.get_template(session=session, template_id=template_id)


@router.get("/v3/datasources/{datasource}/connections",
            response_model=list[schemas.ConnectionOut])
def list_connections(session: SessionDep, datasource: Datasource
                     ) -> list[schemas.ConnectionOut]:
    """The connections of a datasource with their accounts (secrets never included)."""
    _known_datasource(datasource)
    return service.list_connections(session=session, datasource=datasource)


@router.post("/v3/connections", status_code=status.HTTP_201_CREATED,
             response_model=schemas.ConnectionOut)
def create_connection(session: SessionDep, now: NowDep, body: schemas.ConnectionCreate
                      ) -> schemas.ConnectionOut:
    """Save a connection (secrets encrypted at rest), then load its accounts and templates."""
    return service.create_connection(session=session, data=body, now=now)


@router.get("/v3/connections/{connection_id}", response_model=schemas.ConnectionOut)
def get_connection(session: SessionDep, connection_id: ConnectionId) -> schemas.ConnectionOut:
    """One connection with its accounts (secrets never included, only which are set)."""
    return service.get_connection(session=session, connection_id=connection_id)


@router.patch("/v3/connections/{connection_id}", response_model=schemas.ConnectionOut)
def patch_connection(session: SessionDep, now: NowDep, connection_id: ConnectionId,
                     body: schemas.ConnectionPatch) -> schemas.ConnectionOut:
    """Change a connection's title, settings or run cap; a secret only when a new value is
    given. Changed settings are tested against the source first; nothing is saved if it fails."""
    return service.update_connection(session=session, connection_id=connection_id, data=body,
                                     now=now)


@router.delete("/v3/connections/{connection_id}", response_model=schemas.ConnectionDeleted)
def delete_connection(session: SessionDep, now: NowDep, connection_id: ConnectionId,
                      delete_extracts: Annotated[bool, Query(
                          description="Also delete the extracts that use it (their data "
                                      "tables and rows stay).")] = False
                      ) -> schemas.ConnectionDeleted:
    """Delete a connection; 409 listing the extracts that use it unless delete_extracts."""
    return service.delete_connection(session=session, connection_id=connection_id,
                                     delete_extracts=delete_extracts, now=now)


@router.post("/v3/connections/{connection_id}/refresh", response_model=schemas.RefreshOut)
def refresh_connection(session: SessionDep, now: NowDep, connection_id: ConnectionId
                       ) -> schemas.RefreshOut:
    """Ask the source again for accounts and templates; answer what changed."""
    return service.refresh_connection(session=session, connection_id=connection_id, now=now)


@router.get("/v3/connections/{connection_id}/accounts", response_model=list[schemas.AccountOut])
def list_accounts(session: SessionDep, connection_id: ConnectionId) -> list[schemas.AccountOut]:
    """The accounts of one connection."""
    return service.list_accounts(session=session, connection_id=connection_id)


@router.get("/v3/data-tables", response_model=list[schemas.DataTableOut])
def list_data_tables(session: SessionDep,
                     template_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None
                     ) -> list[schemas.DataTableOut]:
    """Data tables with their extracts, columns and row counts."""
    return service.list_data_tables(session=session, template_id=template_id)


@router.get("/v3/data-tables/{data_table_id}", response_model=schemas.DataTableOut)
def get_data_table(session: SessionDep, data_table_id: DataTableId) -> schemas.DataTableOut:
    """One data table with its extracts, columns and row count."""
    return service.get_data_table(session=session, data_table_id=data_table_id)


@router.get("/v3/data-tables/{data_table_id}/rows", response_model=Paginated[Row])
def list_rows(request: Request, session: SessionDep, data_table_id: DataTableId,
              page: PageNumber = 1,
              page_size: Annotated[int, Query(ge=1, le=10_000)] = 100) -> Paginated[Row]:
    """The data table's rows, newest date first, paged."""
    table = service.get_data_table(session=session, data_table_id=data_table_id)
    frame = service.preview_rows(session=session, data_table_id=data_table_id,
                                 limit=page_size, offset=(page - 1) * page_size)
    # to_json turns timestamps into ISO text and NaN into null, as JSON needs; a column of
    # dates then reads 2026-11-20T00:00:00.000, so it is cut back to the date.
    rows: list[Row] = json.loads(frame.to_json(orient="records", date_format="iso"))
    dates = [name for name, kind in table.columns.items() if kind == "date"]
    for row in rows:
        for name in dates:
            if isinstance(row.get(name), str):
                row[name] = row[name][:10]
    return paginated(request, rows, count=table.row_count, page=page, page_size=page_size)
