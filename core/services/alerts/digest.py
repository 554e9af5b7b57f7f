"""The daily digest email (optional per person): per data table the success rate, the stale
extracts and the missing dates of the day before.

A person opts in for themselves (Settings page); it goes to the email they sign in with.
It is sent over the oldest email channel (its SMTP server and sender; not to its own `to`).
From EXTRACTS_DIGEST_HOUR (UTC) on, the worker holding the scheduler lease queues one digest
per person in the outbox, so it is retried and logged as every alert is; a delivery's
`once_key` ("digest:<user id>:<day>") is unique, so nobody gets a day twice.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, errors, schemas
from core.clock import utcnow
from core.db import Database, database_of
from core.models import DataTable, Delivery, DigestSubscription, Extract, NotificationChannel, User
from core.services.alerts import events
from core.services.history import daily, gaps, health
from core.services.history.query import HistoryQuery
from core.vocabulary import ChannelKind, EventKind, Role

MAX_DATES_SHOWN = 10  # per extract; the rest is a count


# -- who gets it -----------------------------------------------------------------------------


def digest_channel(session: Session) -> NotificationChannel | None:
    """The channel whose SMTP server sends digests: the oldest email channel."""
    return session.scalars(select(NotificationChannel)
                           .where(NotificationChannel.kind == ChannelKind.EMAIL)
                           .order_by(NotificationChannel.id).limit(1)).first()


def _has_address(email: str) -> bool:
    return "@" in email


def _me(session: Session) -> User:
    actor = audit.actor_of(session)
    if actor is None or actor.user_id is None:
        raise errors.Invalid("the daily digest is for a signed-in person: an API key without "
                             "an owner has no email to send it to", field="user")
    user = session.get(User, actor.user_id)
    if user is None:
        raise errors.NotFound(f"user {actor.user_id} does not exist")
    return user


def _digest_out(session: Session, user: User) -> schemas.DigestOut:
    channel = digest_channel(session)
    subscribed = session.get(DigestSubscription, user.id) is not None
    why_not = None
    if not _has_address(user.email):
        why_not = ("no digest can be sent: without sign-in the dashboard knows no email "
                   "address of yours (configure sign-in, README 'Sign-in and roles')")
    elif channel is None:
        why_not = ("no digest can be sent: there is no email channel; an admin adds one on "
                   "the Alerts page, and the oldest email channel's SMTP server sends digests")
    return schemas.DigestOut(
        email=user.email, subscribed=subscribed,
        channel_id=channel.id if channel is not None else None,
        channel_title=channel.title if channel is not None else None,
        hour_utc=database_of(session).settings.digest_hour, why_not=why_not)


def get_digest(*, session: Session) -> schemas.DigestOut:
    """The signed-in person's digest: subscribed or not, and whether one can be sent."""
    return _digest_out(session, _me(session))


def set_digest(*, session: Session, subscribed: bool, now: datetime | None = None
               ) -> schemas.DigestOut:
    """Opt the signed-in person in to (or out of) the daily digest email."""
    user = _me(session)
    if subscribed and not _has_address(user.email):
        raise errors.Invalid(f"{user.email!r} is not an email address: the daily digest needs "
                             "sign-in with an identity provider that sends your email",
                             field="subscribed")
    found = session.get(DigestSubscription, user.id)
    if subscribed and found is None:
        session.add(DigestSubscription(user_id=user.id, created_at=now or utcnow()))
    elif not subscribed and found is not None:
        session.delete(found)
    session.flush()
    return _digest_out(session, user)


def list_digest_recipients(*, session: Session) -> list[schemas.UserOut]:
    """Who gets the daily digest, by email (admins)."""
    audit.require(session, Role.ADMIN, "listing who gets the daily digest")
    return [schemas.UserOut(id=u.id, email=u.email, name=u.name, role=Role(u.role),
                            created_at=u.created_at, last_seen_at=u.last_seen_at)
            for u in session.scalars(select(User).join(
                DigestSubscription, DigestSubscription.user_id == User.id)
                .order_by(User.email))]


# -- what it says ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Missing:
    extract_title: str
    dates: tuple[date, ...]


@dataclass(frozen=True)
class TableDigest:
    """One data table's day: finished runs, success rate, stale extracts, missing dates."""

    title: str
    succeeded: int
    failed: int
    success_rate: float | None
    stale: tuple[str, ...]
    missing: tuple[Missing, ...]


def table_digests(session: Session, day: date) -> list[TableDigest]:
    """Every data table with extracts, by title: its figures for the UTC day `day`; stale
    extracts and missing dates (up to `day`) as at the end of that day."""
    end = datetime.combine(day + timedelta(days=1), time(), UTC)
    out = []
    for table in session.scalars(select(DataTable).where(DataTable.id.in_(
            select(Extract.data_table_id))).order_by(DataTable.title)):
        query = HistoryQuery(date_from=day, date_to=day, data_table_id=table.id)
        [figures] = daily.daily_runs(session=session, query=query).to_dict("records")
        rate = figures["success_rate"]
        fresh = health.freshness(session=session, query=query, now=end)
        stale = tuple(str(t) for t, s in zip(fresh["extract"], fresh["stale"], strict=True)
                      if s)
        missing = []
        for extract_id in session.scalars(select(Extract.id).where(
                Extract.data_table_id == table.id).order_by(Extract.id)):
            found = gaps.coverage(session=session, extract_id=extract_id, now=end)
            if found is None:
                continue
            dates = tuple(start + timedelta(days=n) for start, stop in found.gaps
                          for n in range((min(stop, day) - start).days + 1))
            if dates:
                missing.append(Missing(found.title, dates))
        out.append(TableDigest(table.title, int(figures["succeeded"]), int(figures["failed"]),
                               None if math.isnan(rate) else float(rate), stale,
                               tuple(missing)))
    return out


def _rate(table: TableDigest) -> str:
    if table.success_rate is None:
        return "no runs finished"
    return (f"{table.success_rate:.0%} ({table.succeeded} of "
            f"{table.succeeded + table.failed} finished runs succeeded)")


def _dates(found: Missing) -> str:
    shown = ", ".join(d.isoformat() for d in found.dates[:MAX_DATES_SHOWN])
    more = len(found.dates) - MAX_DATES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def render(tables: list[TableDigest], day: date, url: str) -> tuple[str, str]:
    """The digest as plain text and as simple HTML."""
    lines = [f"Extracts: the day {day.isoformat()} (UTC), per data table.", ""]
    parts = [f"<h2>Extracts: the day {day.isoformat()} (UTC)</h2>"]
    if not tables:
        lines.append("No data tables yet.")
        parts.append("<p>No data tables yet.</p>")
    for table in tables:
        stale = ", ".join(table.stale) or "none"
        lines += [table.title, f"  Success rate: {_rate(table)}", f"  Stale extracts: {stale}"]
        lines += ["  Missing dates: none"] if not table.missing else [
            "  Missing dates:", *(f"    {m.extract_title}: {_dates(m)}" for m in table.missing)]
        lines.append("")
        missing = "".join(f"<li>{html.escape(m.extract_title)}: {html.escape(_dates(m))}</li>"
                          for m in table.missing)
        parts.append(
            f"<h3>{html.escape(table.title)}</h3><ul>"
            f"<li>Success rate: {html.escape(_rate(table))}</li>"
            f"<li>Stale extracts: {html.escape(stale)}</li>"
            f"<li>Missing dates: {f'<ul>{missing}</ul>' if missing else 'none'}</li></ul>")
    lines.append(f"History: {url}")
    parts.append(f'<p><a href="{html.escape(url)}">Open the History page</a></p>')
    return "\n".join(lines) + "\n", "<html><body>" + "".join(parts) + "</body></html>"


# -- sending ---------------------------------------------------------------------------------


def once_key(user_id: int, day: date) -> str:
    return f"digest:{user_id}:{day.isoformat()}"


def queue_digests(db: Database, now: datetime) -> int:
    """From DIGEST_HOUR (UTC) on, queue the digest of the day before for each subscriber who
    has not had it; return how many were queued. Needs an email channel."""
    if now.hour < db.settings.digest_hour:
        return 0
    day = now.date() - timedelta(days=1)
    with db.session() as session:
        channel = digest_channel(session)
        if channel is None:
            return 0
        due = [(u.id, u.email) for u in session.scalars(
            select(User).join(DigestSubscription, DigestSubscription.user_id == User.id)
            .order_by(User.id)) if _has_address(u.email)]
        done = set(session.scalars(select(Delivery.once_key).where(
            Delivery.once_key.in_([once_key(i, day) for i, _ in due])))) if due else set()
        due = [(i, e) for i, e in due if once_key(i, day) not in done]
        if not due:
            return 0
        url = db.settings.public_url.rstrip("/") + "/history"
        text, page = render(table_digests(session, day), day, url)
        channel_id = channel.id
    queued = 0
    for user_id, email in due:
        body: dict[str, Any] = events.payload(
            db.settings, kind=EventKind.DIGEST, now=now, extract=None,
            message=f"the day {day.isoformat()} (UTC)")
        body.update(url=url, day=day.isoformat(), to=[email], text=text, html=page)
        try:  # one transaction per person: a unique key already taken skips only them
            with db.session() as session:
                [row] = events.queue(session, body, [channel_id], now, extract_id=None,
                                     alert_id=None)
                row.once_key = once_key(user_id, day)
            queued += 1
        except sa_exc.IntegrityError:
            continue  # another worker queued it meanwhile
    return queued
