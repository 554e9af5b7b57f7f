"""The events: each is written to the outbox (one Delivery per channel a rule sends it to)
in the transaction of the state change that raised it, so it is sent if and only if the
change is kept.

No storms: an event that opens an alert (run.failed, extract.paused_automatically,
extract.stale, run.volume_anomaly) is sent once while that extract's alert of that kind is
open; `check_alerts` sends a reminder each ALERT_REMINDER_HOURS while it stays open and
unacknowledged; the first success closes the failure, pause and staleness alerts with one
extract.recovered.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import Database, database_of
from core.models import Alert, AlertRule, Delivery, Extract, NotificationChannel, Run
from core.services.history import anomalies, health
from core.services.history.query import HistoryQuery
from core.vocabulary import DeliveryStatus, EventKind, RunStatus

log = logging.getLogger(__name__)

# A success closes these with one extract.recovered; a normal run closes an anomaly quietly.
RECOVERABLE = (EventKind.RUN_FAILED, EventKind.PAUSED_AUTOMATICALLY, EventKind.STALE)


def new_event_id() -> str:
    """The event's id: the `webhook-id` a receiver deduplicates on."""
    return f"msg_{uuid.uuid4().hex}"


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def extract_part(extract: Extract) -> dict[str, Any]:
    """The extract as every event describes it."""
    return {
        "id": extract.id, "title": extract.title, "status": extract.status,
        "data_table": {"id": extract.data_table.id, "title": extract.data_table.title},
        "connection": {"id": extract.connection.id, "title": extract.connection.title,
                       "datasource": extract.connection.datasource},
        "account": {"id": extract.account.id, "name": extract.account.name},
    }


def run_part(run: Run) -> dict[str, Any]:
    return {"id": run.id, "status": run.status, "trigger": run.trigger,
            "date_from": _iso(run.date_from), "date_to": _iso(run.date_to),
            "rows": run.rows, "attempts": run.attempts, "error": run.error}


def payload(settings: Settings, *, kind: EventKind, now: datetime, extract: Extract | None,
            message: str, run: Run | None = None, alert: Alert | None = None,
            reminder: bool = False, event_id: str | None = None) -> dict[str, Any]:
    """The event's JSON, the same for every channel (README: Alerts)."""
    base = settings.public_url.rstrip("/")
    return {
        "id": event_id or new_event_id(),
        "type": str(kind),
        "time": now.isoformat(),
        "message": message,
        "reminder": reminder,
        "alert": None if alert is None else {
            "id": alert.id, "kind": alert.kind, "opened_at": _iso(alert.opened_at),
            "reminders": alert.reminders, "acknowledged": alert.acknowledged_at is not None},
        "extract": None if extract is None else extract_part(extract),
        "run": None if run is None else run_part(run),
        "url": f"{base}/extract?id={extract.id}" if extract is not None else f"{base}/alerts",
    }


def _matches(rule: AlertRule, kind: EventKind, extract: Extract, now: datetime) -> bool:
    if str(kind) not in rule.events:
        return False
    if rule.muted_until is not None and rule.muted_until > now:
        return False
    return _in_scope(rule, extract)


def _in_scope(rule: AlertRule, extract: Extract) -> bool:
    scopes = ((rule.extract_ids, extract.id), (rule.data_table_ids, extract.data_table_id),
              (rule.connection_ids, extract.connection_id),
              (rule.datasources, extract.connection.datasource))
    # No scope: every extract. Otherwise any one scope that names the extract.
    if not any(values for values, _ in scopes):
        return True
    return any(value in values for values, value in scopes if values)


def channels_for(session: Session, kind: EventKind, extract: Extract, now: datetime
                 ) -> list[int]:
    """The channels the rules send this extract's event of `kind` to (each once)."""
    rules = session.info.get("alert_rules")
    if rules is None:  # read once per session: a run's transaction raises one or two events
        rules = session.info["alert_rules"] = list(session.scalars(select(AlertRule)))
    wanted: list[int] = []
    for rule in rules:
        if _matches(rule, kind, extract, now):
            wanted += [c for c in rule.channel_ids if c not in wanted]
    if not wanted:
        return []
    existing = set(session.scalars(select(NotificationChannel.id)
                                   .where(NotificationChannel.id.in_(wanted))))
    return [c for c in wanted if c in existing]


def queue(session: Session, body: dict[str, Any], channel_ids: list[int], now: datetime, *,
          extract_id: int | None, alert_id: int | None) -> list[Delivery]:
    """Write the event to the outbox, one row per channel, in the caller's transaction."""
    rows = [Delivery(event_id=body["id"], event=body["type"], channel_id=channel_id,
                     extract_id=extract_id, alert_id=alert_id, payload=body,
                     status=DeliveryStatus.PENDING, created_at=now, next_attempt_at=now,
                     attempts=0) for channel_id in channel_ids]
    session.add_all(rows)
    if rows:
        session.info["alerts_queued"] = True  # the worker's deliverer wakes on commit
    return rows


def emit(session: Session, kind: EventKind, extract: Extract, now: datetime, message: str, *,
         run: Run | None = None, alert: Alert | None = None, reminder: bool = False
         ) -> list[Delivery]:
    """Raise one event of an extract: to the outbox for every channel a rule names."""
    channels = channels_for(session, kind, extract, now)
    if not channels:
        return []
    settings = database_of(session).settings
    body = payload(settings, kind=kind, now=now, extract=extract, message=message, run=run,
                   alert=alert, reminder=reminder)
    return queue(session, body, channels, now, extract_id=extract.id,
                 alert_id=alert.id if alert is not None else None)


def open_alert_of(session: Session, extract_id: int, kind: EventKind) -> Alert | None:
    return session.scalars(select(Alert).where(
        Alert.open_key == f"{extract_id}:{kind}")).first()


def raise_alert(session: Session, kind: EventKind, extract: Extract, now: datetime,
                message: str, run: Run | None = None) -> Alert | None:
    """Open the extract's alert of `kind` and send it, unless one is open already (then
    nothing: its reminders are `check_alerts`' job). Returns the new alert."""
    if open_alert_of(session, extract.id, kind) is not None:
        return None
    alert = Alert(extract_id=extract.id, kind=str(kind), open_key=f"{extract.id}:{kind}",
                  message=message, run_id=run.id if run is not None else None,
                  opened_at=now, last_notified_at=now, reminders=0)
    session.add(alert)
    session.flush()
    emit(session, kind, extract, now, message, run=run, alert=alert)
    return alert


def close_alerts(session: Session, extract_id: int, kinds: tuple[EventKind, ...],
                 now: datetime) -> list[Alert]:
    """Close the extract's open alerts of `kinds`; return them."""
    closed = list(session.scalars(select(Alert).where(
        Alert.open_key.in_([f"{extract_id}:{k}" for k in kinds]))))
    for alert in closed:
        alert.open_key = None
        alert.closed_at = now
    return closed


# -- what raises events ----------------------------------------------------------------


def after_outcome(session: Session, run: Run, now: datetime) -> None:
    """`on_run_finished` in a savepoint of the outcome's transaction: should raising the
    alerts fail (a bug, a bad row), the run's outcome is kept and the failure logged; a run's
    recorded outcome matters more than its alert."""
    try:
        with session.begin_nested():
            on_run_finished(session, run, now)
    except Exception:
        log.exception("run %s: its alerts could not be written; its outcome is kept", run.id)



def on_run_finished(session: Session, run: Run, now: datetime) -> None:
    """After a run's outcome is written (same transaction): a final failure opens run.failed;
    a success closes failure, pause and staleness alerts with one extract.recovered, sends
    run.succeeded to rules that want it, and opens or closes the volume anomaly alert."""
    extract = run.extract
    if run.status == RunStatus.FAILED:
        raise_alert(session, EventKind.RUN_FAILED, extract, now,
                    f"{extract.title}: run {run.id} failed: {run.error or 'no error given'}",
                    run)
        return
    if run.status != RunStatus.SUCCEEDED:
        return
    closed = close_alerts(session, extract.id, RECOVERABLE, now)
    if closed:
        since = min(a.opened_at for a in closed)
        emit(session, EventKind.RECOVERED, extract, now,
             f"{extract.title} recovered: run {run.id} succeeded ({run.rows} rows) after "
             f"{', '.join(sorted({a.kind for a in closed}))} since {since.isoformat()}",
             run=run, alert=closed[0])
    emit(session, EventKind.RUN_SUCCEEDED, extract, now,
         f"{extract.title}: run {run.id} succeeded ({run.rows} rows)", run=run)
    found = anomalies.run_anomalies(session=session, extract_id=extract.id, limit=1)
    if run.id in found:
        raise_alert(session, EventKind.VOLUME_ANOMALY, extract, now,
                    f"{extract.title}: run {run.id} loaded {run.rows} rows, "
                    f"{found[run.id].label}", run)
    else:
        close_alerts(session, extract.id, (EventKind.VOLUME_ANOMALY,), now)


def on_auto_pause(session: Session, extract: Extract, now: datetime) -> None:
    """The extract was paused after repeated failures (same transaction)."""
    raise_alert(session, EventKind.PAUSED_AUTOMATICALLY, extract, now,
                f"{extract.title}: {extract.error_text}")


def _stale(session: Session, now: datetime) -> dict[int, str]:
    """Stale extracts and why: the History page's rule, or a rule's freshness limit."""
    today = now.date()
    fresh = health.freshness(session=session, now=now,
                             query=HistoryQuery(date_from=today, date_to=today))
    stale = {int(i): "no successful run for over twice its schedule's interval"
             for i, is_stale in zip(fresh["extract_id"], fresh["stale"], strict=True)
             if is_stale}
    limited = [r for r in session.scalars(select(AlertRule).where(
        AlertRule.stale_after_hours.is_not(None)))]
    if not limited:
        return stale
    for extract in session.scalars(select(Extract).where(Extract.is_paused.is_(False))):
        since = extract.last_sync or extract.created_at
        for rule in limited:
            hours = rule.stale_after_hours or 0
            if (extract.id not in stale and now - since > timedelta(hours=hours)
                    and _in_scope(rule, extract)):
                stale[extract.id] = f"no successful run for {hours} hours"
    return stale


def check_alerts(db: Database, now: datetime) -> int:
    """The periodic part: open staleness alerts (the History page's freshness rule) and close
    those fresh again; send a reminder of each open, unacknowledged alert not notified for
    ALERT_REMINDER_HOURS. Returns the events queued."""
    every = timedelta(hours=db.settings.alert_reminder_hours)
    queued = 0
    with db.session() as session:
        stale = _stale(session, now)
        for extract_id, why in stale.items():
            extract = session.get(Extract, extract_id)
            if extract is not None and raise_alert(
                    session, EventKind.STALE, extract, now,
                    f"{extract.title}: {why} (last sync "
                    f"{_iso(extract.last_sync) or 'never'})") is not None:
                queued += 1
        for alert in session.scalars(select(Alert).where(
                Alert.kind == EventKind.STALE, Alert.open_key.is_not(None))):
            if alert.extract_id not in stale:
                close_alerts(session, alert.extract_id, (EventKind.STALE,), now)
        for alert in session.scalars(select(Alert).where(
                Alert.open_key.is_not(None), Alert.acknowledged_at.is_(None),
                Alert.last_notified_at <= now - every)).all():
            alert.reminders += 1
            alert.last_notified_at = now
            run = session.get(Run, alert.run_id) if alert.run_id is not None else None
            emit(session, EventKind(alert.kind), alert.extract, now,
                 f"reminder {alert.reminders}: still open since "
                 f"{alert.opened_at.isoformat()}: {alert.message}", run=run, alert=alert,
                 reminder=True)
            queued += 1
    return queued
