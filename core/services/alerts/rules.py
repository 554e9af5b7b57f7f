"""Alert rules (editors): which events, of which extracts, go to which channels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import errors, schemas
from core.clock import utcnow
from core.errors import Problem
from core.models import AlertRule, Connection, DataTable, Extract, NotificationChannel
from core.services.common import load

SCOPES = (("channel_ids", NotificationChannel, "notification channel"),
          ("extract_ids", Extract, "extract"), ("data_table_ids", DataTable, "data table"),
          ("connection_ids", Connection, "connection"))


def rule_out(rule: AlertRule) -> schemas.RuleOut:
    return schemas.RuleOut(
        id=rule.id, title=rule.title, events=list(rule.events),
        channel_ids=list(rule.channel_ids), extract_ids=list(rule.extract_ids),
        data_table_ids=list(rule.data_table_ids), connection_ids=list(rule.connection_ids),
        datasources=list(rule.datasources),
        stale_after_hours=rule.stale_after_hours, muted_until=rule.muted_until,
        created_at=rule.created_at)


def _problems(session: Session, values: dict[str, Any]) -> list[Problem]:
    problems = []
    for field, model, what in SCOPES:
        ids = values.get(field) or []
        if not ids:
            continue
        known = set(session.scalars(select(model.id).where(model.id.in_(ids))))
        missing = [i for i in ids if i not in known]
        if missing:
            problems.append(Problem(field, f"{what} {', '.join(map(str, missing))} does not "
                                    "exist"))
    muted = values.get("muted_until")
    if muted is not None and muted.tzinfo is None:
        problems.append(Problem("muted_until", "must carry a timezone, e.g. "
                                "2026-12-24T18:00:00Z"))
    return problems


def _apply(session: Session, rule: AlertRule, values: dict[str, Any]) -> None:
    problems = _problems(session, values)
    if problems:
        raise errors.Invalid(problems)
    for key, value in values.items():
        if key == "events":
            value = [str(v) for v in value]
        elif isinstance(value, list):
            value = list(dict.fromkeys(value))
        setattr(rule, key, value)


def create_alert_rule(*, session: Session, data: schemas.RuleCreate | dict[str, Any],
                      now: datetime | None = None) -> schemas.RuleOut:
    """Create a rule; no extract, data table, connection or datasource: every extract."""
    body = schemas.parse(schemas.RuleCreate, data)
    rule = AlertRule(created_at=now or utcnow())
    _apply(session, rule, body.model_dump())
    session.add(rule)
    session.flush()
    return rule_out(rule)


def list_alert_rules(*, session: Session) -> list[schemas.RuleOut]:
    return [rule_out(r) for r in session.scalars(select(AlertRule).order_by(AlertRule.id))]


def get_alert_rule(*, session: Session, rule_id: int) -> schemas.RuleOut:
    return rule_out(load(session, AlertRule, rule_id, "alert rule"))


def update_alert_rule(*, session: Session, rule_id: int,
                      data: schemas.RulePatch | dict[str, Any]) -> schemas.RuleOut:
    """Change the fields given (muted_until: null unmutes)."""
    rule = load(session, AlertRule, rule_id, "alert rule")
    body = schemas.parse(schemas.RulePatch, data)
    values = body.model_dump(exclude_unset=True)
    for key in ("events", "channel_ids"):
        if key in values and values[key] is None:
            raise errors.Invalid(Problem(key, "must be a list with at least one item"))
    nullable = ("muted_until", "title", "stale_after_hours")
    _apply(session, rule, {k: ([] if v is None and k not in nullable else v)
                           for k, v in values.items() if not (k == "title" and v is None)})
    session.flush()
    return rule_out(rule)


def delete_alert_rule(*, session: Session, rule_id: int) -> None:
    session.delete(load(session, AlertRule, rule_id, "alert rule"))
    session.flush()
