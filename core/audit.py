"""Who may change what, and the audit log of what they changed, both where every change
passes: the session's flush.

A face (API, dashboard) marks its session with the one acting (`act_as`). Before anything of
a flush reaches the database, each changed object is checked against that actor's role: a
viewer's change of an extract raises `Forbidden` and nothing is written, whichever service
was called. After the flush (ids known), each change is written to `audit_events` in the same
transaction: it is there if and only if the change is. Sessions without an actor (the
worker, the CLI, start-up) are the system: not checked, not logged.

Services that act on the outside world without writing (testing a connection, sampling a
custom query) call `require` at their start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, sessionmaker

from core import errors
from core.clock import utcnow
from core.models import (
    Account,
    Alert,
    AlertRule,
    ApiKey,
    ApiToken,
    AuditEvent,
    Connection,
    DataTable,
    Delivery,
    DigestSubscription,
    Extract,
    NotificationChannel,
    Run,
    Schedule,
    Template,
    User,
)
from core.schemas import Actor
from core.vocabulary import Role, RunStatus

ACTOR, NOW = "actor", "actor_now"
SECRET = "(changed)"  # what the log says of a secret, never its value


@dataclass(frozen=True)
class Rule:
    """How one kind of object is checked and logged."""

    kind: str  # its name in the log ("extract")
    role: Role  # the role a change needs
    title: Callable[[Any], str] = lambda obj: str(getattr(obj, "title", ""))
    ignored: frozenset[str] = frozenset()  # columns the system keeps (not the person's doing)
    secret: frozenset[str] = frozenset()  # columns logged only as "(changed)"
    logged: bool = True
    own: Callable[[Actor, Any], bool] | None = None  # may any role change its own?


def _own_key(actor: Actor, key: ApiKey) -> bool:
    owner = key.user.id if key.user is not None else key.user_id  # a new key: no user_id yet
    return (actor.user_id is not None and owner == actor.user_id) or \
        (actor.api_key_id is not None and key.id == actor.api_key_id)


RULES: dict[type, Rule] = {
    Extract: Rule("extract", Role.EDITOR, ignored=frozenset({
        "updated_at", "created_at", "status", "error_text", "last_sync", "schema_drift"})),
    Schedule: Rule("schedule", Role.EDITOR,
                   title=lambda s: f"schedule {s.position + 1} of extract {s.extract_id}"),
    DataTable: Rule("data table", Role.EDITOR, ignored=frozenset({"created_at"})),
    Run: Rule("run", Role.EDITOR, title=lambda r: f"run of extract {r.extract_id}"),
    Connection: Rule("connection", Role.ADMIN, secret=frozenset({"secrets"})),
    Account: Rule("account", Role.ADMIN, title=lambda a: str(a.name), logged=False),
    Template: Rule("template", Role.ADMIN, logged=False),  # follows its connection
    ApiKey: Rule("api key", Role.ADMIN, title=lambda k: f"{k.key_id} ({k.name})",
                 ignored=frozenset({"last_used_at", "created_at"}),
                 secret=frozenset({"secret_hash"}), own=_own_key),
    ApiToken: Rule("api token", Role.VIEWER, logged=False),
    User: Rule("user", Role.ADMIN, title=lambda u: str(u.email),
               ignored=frozenset({"last_seen_at", "created_at"})),
    NotificationChannel: Rule("notification channel", Role.ADMIN, secret=frozenset({"secrets"}),
                              ignored=frozenset({"created_at"})),
    AlertRule: Rule("alert rule", Role.EDITOR,
                    title=lambda r: r.title or f"alert rule on {', '.join(r.events)}",
                    ignored=frozenset({"created_at"})),
    Alert: Rule("alert", Role.EDITOR, title=lambda a: f"{a.kind} of extract {a.extract_id}",
                ignored=frozenset({"last_notified_at", "reminders", "open_key", "closed_at"})),
    Delivery: Rule("delivery", Role.VIEWER, logged=False),  # the outbox: its own log
    # Anyone may opt themselves in or out of the daily digest; nobody else.
    DigestSubscription: Rule("daily digest", Role.ADMIN,
                             title=lambda d: f"daily digest of user {d.user_id}",
                             ignored=frozenset({"created_at"}),
                             own=lambda actor, d: actor.user_id == d.user_id),
}


def act_as(session: Session, actor: Actor | None, now: datetime | None = None) -> None:
    """Mark `session` with who acts (None: the system) and the time its changes are logged at."""
    session.info[ACTOR] = actor
    session.info[NOW] = now


def actor_of(session: Session) -> Actor | None:
    actor: Actor | None = session.info.get(ACTOR)
    return actor


def require(session: Session, needed: Role, doing: str) -> None:
    """Refuse (Forbidden) unless the session's actor, if any, has at least `needed`."""
    actor = actor_of(session)
    if actor is not None and not actor.role.allows(needed):
        raise errors.Forbidden(f"{doing} needs the {needed} role; {actor.label} acts as "
                               f"{actor.role}")


def install(sessions: sessionmaker[Session]) -> None:
    """Check and log every flush of the sessions `sessions` makes."""
    event.listen(sessions, "before_flush", _check)
    event.listen(sessions, "after_flush", _log)


# -- the check -------------------------------------------------------------------------------

def _changed(session: Session) -> Iterator[tuple[str, Any]]:
    for obj in session.new:
        yield "created", obj
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False):
            yield "changed", obj
    for obj in session.deleted:
        yield "deleted", obj


VERBS = {"created": "creating", "changed": "changing", "deleted": "deleting"}


def _check(session: Session, _context: Any, _instances: Any) -> None:
    actor = actor_of(session)
    if actor is None:
        return
    refused: list[tuple[int, str, Rule]] = []
    for how, obj in _changed(session):
        if isinstance(obj, AuditEvent):
            if how != "created":
                raise errors.Forbidden("the audit log is kept as written: nothing may change "
                                       "or delete it")
            continue
        rule = RULES.get(type(obj))
        if rule is None or actor.role.allows(rule.role):
            continue
        if rule.own is not None and rule.own(actor, obj):
            continue
        refused.append((list(RULES).index(type(obj)), how, rule))
    if refused:  # named by the change's main object (an extract before its schedules)
        _, how, rule = min(refused, key=lambda r: r[0])
        raise errors.Forbidden(f"{VERBS[how]} {_article(rule.kind)} needs the {rule.role} "
                               f"role; {actor.label} acts as {actor.role}")


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


# -- the log ---------------------------------------------------------------------------------

@dataclass
class _Entry:
    action: str
    obj: Any
    rule: Rule
    changes: dict[str, Any] = field(default_factory=dict)


def _log(session: Session, _context: Any) -> None:
    actor = actor_of(session)
    if actor is None:
        return
    entries = [entry for how, obj in _changed(session)
               if (entry := _entry(how, obj)) is not None]
    if not entries:
        return
    at = session.info.get(NOW) or utcnow()
    session.connection().execute(insert(AuditEvent), [
        {"at": at, "actor": actor.name, "actor_kind": actor.kind, "action": e.action,
         "object_type": e.rule.kind, "object_id": getattr(e.obj, "id", None),
         "object_title": e.rule.title(e.obj)[:400], "changes": e.changes} for e in entries])


def _entry(how: str, obj: Any) -> _Entry | None:
    rule = RULES.get(type(obj))
    if rule is None or not rule.logged:
        return None
    if isinstance(obj, Run):
        return _run_entry(how, obj, rule)
    columns = [c.key for c in inspect(type(obj)).column_attrs
               if c.key not in rule.ignored and c.key != "id"]
    if how == "created":
        return _Entry("created", obj, rule, {
            c: {"after": _shown(rule, c, getattr(obj, c))} for c in columns
            if getattr(obj, c) not in (None, "", [], {})})
    if how == "deleted":
        return _Entry("deleted", obj, rule)
    state = inspect(obj)
    changes = {}
    for column in columns:
        history = state.attrs[column].history
        if not history.has_changes():
            continue
        before = history.deleted[0] if history.deleted else None
        after = history.added[0] if history.added else None
        if before != after:
            changes[column] = {"before": _shown(rule, column, before),
                               "after": _shown(rule, column, after)}
    if not changes:
        return None
    action = "changed"
    if set(changes) == {"is_paused"}:
        action = "paused" if changes["is_paused"]["after"] else "resumed"
    elif set(changes) == {"revoked_at"}:
        action = "revoked"
    return _Entry(action, obj, rule, changes)


def _run_entry(how: str, run: Run, rule: Rule) -> _Entry | None:
    """Runs a person asked for, and cancels (what the worker does with runs has no actor and
    is not logged); a run's progress is not a change anyone made."""
    if how == "created":  # by a person: a run, a backfill, a retry of failed windows
        return _Entry("run requested", run, rule, {
            "window": {"after": f"{_shown(rule, '', run.date_from)} → "
                                f"{_shown(rule, '', run.date_to)}"},
            "trigger": {"after": str(run.trigger)}})
    if how != "changed":
        return None
    state = inspect(run)
    if state.attrs.cancel_requested.history.added == [True]:
        return _Entry("cancel requested", run, rule)  # running: it stops before a chunk
    if state.attrs.status.history.added == [RunStatus.CANCELLED]:
        return _Entry("cancelled", run, rule)  # queued: cancelled at once
    return None


def _shown(rule: Rule, column: str, value: Any) -> Any:
    if column in rule.secret:
        return SECRET
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return str(value)
