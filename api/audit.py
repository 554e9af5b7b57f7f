"""The audit log: GET /api/v3/audit, newest first, filtered and paged."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Query, Request

from api.deps import MAX_ID, SessionDep
from api.models import PageNumber, PageSize, Paginated, paginated
from api.routing import BothSlashesRouter
from core import schemas, service

router = BothSlashesRouter(tags=["audit"])


@router.get("/v3/audit", response_model=Paginated[schemas.AuditEventOut])
def list_audit_events(
    request: Request, session: SessionDep,
    actor: Annotated[str | None, Query(max_length=400,
                                       description="Part of who acted: an email or key.")] = None,
    object_type: Annotated[str | None, Query(max_length=32, description=(
        "extract, schedule, run, data table, connection, api key or user."))] = None,
    object_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    date_from: Annotated[date | None, Query(description="First day (UTC) included.")] = None,
    date_to: Annotated[date | None, Query(description="Last day (UTC) included.")] = None,
    page: PageNumber = 1,
    page_size: PageSize = 100,
) -> Paginated[schemas.AuditEventOut]:
    """Every change people and keys made: who, when, what, and each field before and after
    (secrets only as "(changed)")."""
    found = service.list_audit_events(session=session, actor=actor, object_type=object_type,
                                      object_id=object_id, date_from=date_from,
                                      date_to=date_to, page=page, page_size=page_size)
    return paginated(request, found.items, count=found.total, page=page, page_size=page_size)
