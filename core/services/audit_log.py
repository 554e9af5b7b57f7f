"""Reading the audit log (core.audit writes it): newest first, filtered, paged."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import schemas
from core.models import AuditEvent
from core.vocabulary import ActorKind


def list_audit_events(*, session: Session, actor: str | None = None,
                      object_type: str | None = None, object_id: int | None = None,
                      date_from: date | None = None, date_to: date | None = None,
                      page: int = 1, page_size: int = 100
                      ) -> schemas.Page[schemas.AuditEventOut]:
    """Changes, newest first: by who (part of the name or email), what kind of object (and
    which one), and the days they were made (UTC, both ends included)."""
    query = select(AuditEvent)
    if actor:
        query = query.where(func.lower(AuditEvent.actor).contains(actor.strip().lower(),
                                                                  autoescape=True))
    if object_type:
        query = query.where(AuditEvent.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditEvent.object_id == object_id)
    if date_from is not None:
        query = query.where(AuditEvent.at >= datetime.combine(date_from, time(), UTC))
    if date_to is not None:
        query = query.where(AuditEvent.at < datetime.combine(date_to + timedelta(days=1),
                                                              time(), UTC))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(AuditEvent.id.desc())
                           .offset((page - 1) * page_size).limit(page_size))
    return schemas.Page(total=total, page=page, page_size=page_size, items=[
        schemas.AuditEventOut(id=e.id, at=e.at, actor=e.actor,
                              actor_kind=ActorKind(e.actor_kind),
                              action=e.action, object_type=e.object_type,
                              object_id=e.object_id, object_title=e.object_title,
                              changes=e.changes) for e in rows])
