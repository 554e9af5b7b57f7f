"""Open and closed alerts, acknowledgement, and the delivery log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core import audit, errors, schemas
from core.clock import utcnow
from core.models import Alert, Delivery, Extract, NotificationChannel
from core.services.common import load
from core.vocabulary import Role

STATUSES = ("open", "closed")


def alert_out(alert: Alert, title: str) -> schemas.AlertOut:
    return schemas.AlertOut(
        id=alert.id, kind=alert.kind, status="open" if alert.closed_at is None else "closed",
        extract_id=alert.extract_id, extract_title=title, message=alert.message,
        run_id=alert.run_id, opened_at=alert.opened_at,
        last_notified_at=alert.last_notified_at, reminders=alert.reminders,
        acknowledged_at=alert.acknowledged_at, acknowledged_by=alert.acknowledged_by,
        closed_at=alert.closed_at)


def delivery_out(row: Delivery, channel_title: str) -> schemas.DeliveryOut:
    return schemas.DeliveryOut(
        id=row.id, created_at=row.created_at, event=row.event, event_id=row.event_id,
        channel_id=row.channel_id, channel_title=channel_title, extract_id=row.extract_id,
        status=row.status, attempts=row.attempts, status_code=row.status_code,
        error=row.error, last_attempt_at=row.last_attempt_at,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        delivered_at=row.delivered_at)


def list_alerts(*, session: Session, status: str | None = None, extract_id: int | None = None,
                page: int = 1, page_size: int = 100) -> schemas.Page[schemas.AlertOut]:
    """Alerts newest first: `status` open or closed (default both), of one extract or all."""
    if status is not None and status not in STATUSES:
        raise errors.Invalid(f"must be open or closed, not {status!r}", field="status")
    where: list[ColumnElement[bool]] = []
    if status == "open":
        where.append(Alert.closed_at.is_(None))
    elif status == "closed":
        where.append(Alert.closed_at.is_not(None))
    if extract_id is not None:
        where.append(Alert.extract_id == extract_id)
    total = session.scalar(select(func.count()).select_from(Alert).where(*where)) or 0
    rows = session.execute(
        select(Alert, Extract.title).join(Extract, Extract.id == Alert.extract_id).where(*where)
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
        .offset((page - 1) * page_size).limit(page_size)).all()
    return schemas.Page(items=[alert_out(a, t) for a, t in rows], total=total, page=page,
                        page_size=page_size)


def acknowledge_alert(*, session: Session, alert_id: int, now: datetime | None = None
                      ) -> schemas.AlertOut:
    """Say someone is on it: no more reminders (it stays open until the extract recovers)."""
    audit.require(session, Role.EDITOR, "acknowledging an alert")
    alert = load(session, Alert, alert_id, "alert")
    if alert.acknowledged_at is None:
        actor = audit.actor_of(session)
        alert.acknowledged_at = now or utcnow()
        alert.acknowledged_by = actor.name if actor is not None else "system"
        session.flush()
    return alert_out(alert, alert.extract.title)


def list_deliveries(*, session: Session, channel_id: int | None = None, page: int = 1,
                    page_size: int = 100) -> schemas.Page[schemas.DeliveryOut]:
    """The delivery log, newest first, of one channel or all: time, event, status code,
    attempts, error (never a secret)."""
    where: list[ColumnElement[bool]] = []
    if channel_id is not None:
        load(session, NotificationChannel, channel_id, "notification channel")
        where.append(Delivery.channel_id == channel_id)
    total = session.scalar(select(func.count()).select_from(Delivery).where(*where)) or 0
    rows = session.execute(
        select(Delivery, NotificationChannel.title)
        .join(NotificationChannel, NotificationChannel.id == Delivery.channel_id).where(*where)
        .order_by(Delivery.id.desc()).offset((page - 1) * page_size).limit(page_size)).all()
    return schemas.Page(items=[delivery_out(d, t) for d, t in rows], total=total, page=page,
                        page_size=page_size)
