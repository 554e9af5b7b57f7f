"""The daily digest email, end to end through the outbox to a real SMTP server on loopback:
an opted-in person gets one digest a day from DIGEST_HOUR with the day's figures per data
table; an opted-out person gets none; a second pass the same day sends nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.message import Message

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import errors, runner, schemas, service
from core.config import get_settings
from core.connectors import registry
from core.connectors.base import FetchRequest, FetchResult, SourceError
from core.db import Database
from core.models import Delivery
from core.services.alerts import digest
from core.worker import deliverer
from tests.conftest import extract_body
from tests.receivers import smtp_server

pytestmark = pytest.mark.both_databases
CREATED = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
DAY = date(2026, 11, 27)  # the day the first digest tells about


def extract(db: Database, table: str) -> tuple[int, str]:
    with db.session() as s:
        made = service.create_extracts(session=s, data=extract_body(
            accounts=[1], data_table_title=table), now=CREATED)[0]
    return made.id, made.title


def run(db: Database, extract_id: int, at: datetime, window: tuple[date, date]) -> str:
    with db.session() as s:
        [queued] = service.run_extract(session=s, extract_id=extract_id, now=at,
                                       date_from=window[0], date_to=window[1])
    return str(runner.execute_run(db=db, run_id=queued.id, clock=lambda: at).status)


def person(db: Database, email: str) -> schemas.Actor:
    with db.session() as s:
        return service.actor_for(service.sign_in(session=s, email=email, now=CREATED))


def opt(db: Database, actor: schemas.Actor, subscribed: bool) -> schemas.DigestOut:
    with db.session(actor=actor) as s:
        return service.set_digest(session=s, subscribed=subscribed, now=CREATED)


def email_channel(db: Database, port: int) -> None:
    """The channel whose SMTP server sends digests (its own recipients get none)."""
    with db.session() as s:
        service.create_channel(session=s, now=CREATED, data={
            "kind": "email", "title": "Team leads", "to": ["leads@example.com"],
            "smtp_host": "127.0.0.1", "smtp_port": port, "starttls": False,
            "from_address": "extracts@example.com"})


def sections(message: Message) -> tuple[dict[str, str], str]:
    """The plain text's paragraphs by their first line, and the HTML part."""
    parts = {p.get_content_type(): p.get_payload(decode=True).decode()
             for p in message.walk() if not p.is_multipart()}
    text, page = parts["text/plain"].replace("\r\n", "\n"), parts["text/html"]
    paragraphs = {p.split("\n", 1)[0]: p for p in text.split("\n\n")}
    return paragraphs, page


def test_an_opted_in_person_gets_one_digest_a_day_with_the_days_figures(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    campaigns, campaigns_title = extract(db, "Campaign stats")
    _, spend_title = extract(db, "Spend")
    sample = registry.get("sample_ads")
    real = sample.fetch
    failing = {"on": False}

    def fetch(request: FetchRequest) -> FetchResult:
        if failing["on"]:
            raise SourceError("the access token was revoked; reconnect the account")
        return real(request)

    monkeypatch.setattr(sample, "fetch", fetch)
    # On the 27th: two successes (the 25th never loaded: a gap), then a failure.
    morning = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert run(db, campaigns, morning, (date(2026, 11, 20), date(2026, 11, 24))) == "succeeded"
    assert run(db, campaigns, morning, (date(2026, 11, 26), DAY)) == "succeeded"
    failing["on"] = True
    assert run(db, campaigns, morning + timedelta(hours=3), (DAY, DAY)) == "failed"
    # "Spend" never succeeded since the 20th: stale.

    lead = person(db, "lead@example.com")
    quiet = person(db, "quiet@example.com")
    assert opt(db, lead, True).subscribed
    assert opt(db, quiet, True).subscribed
    assert not opt(db, quiet, False).subscribed

    with smtp_server() as (port, mail):
        email_channel(db, port)
        now = datetime(2026, 11, 28, 6, 59, tzinfo=UTC)
        worker = deliverer.Deliverer(db, clock=lambda: now)

        worker.step(now)  # before the hour (7 UTC): nothing yet
        assert mail.messages == []

        now = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
        worker.step(now)
        [digest] = mail.messages
        assert mail.envelopes == [("extracts@example.com", ["lead@example.com"])]
        assert digest["Subject"] == "[Extracts] Daily digest: 2026-11-27"
        assert digest["To"] == "lead@example.com"
        paragraphs, page = sections(digest)
        assert paragraphs["Campaign stats"].splitlines()[1:] == [
            "  Success rate: 67% (2 of 3 finished runs succeeded)",
            "  Stale extracts: none",
            "  Missing dates:",
            f"    {campaigns_title}: 2026-11-25"]
        assert paragraphs["Spend"].splitlines()[1:] == [
            "  Success rate: no runs finished",
            f"  Stale extracts: {spend_title}",
            "  Missing dates: none"]
        assert "<h3>Campaign stats</h3>" in page and "67% (2 of 3" in page
        assert f"{campaigns_title}: 2026-11-25</li>" in page

        for minutes in (5, 30, 600):  # later passes the same day send nothing
            now = datetime(2026, 11, 28, 10, 0, tzinfo=UTC) + timedelta(minutes=minutes)
            worker.step(now)
        assert len(mail.messages) == 1

        now = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
        worker.step(now)
        assert len(mail.messages) == 1
        now = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)
        worker.step(now)
        assert len(mail.messages) == 2
        second = mail.messages[1]
        assert second["Subject"] == "[Extracts] Daily digest: 2026-11-28"
        paragraphs, _ = sections(second)
        assert paragraphs["Campaign stats"].splitlines()[1:] == [
            "  Success rate: no runs finished",
            "  Stale extracts: none",
            "  Missing dates:",
            f"    {campaigns_title}: 2026-11-25, 2026-11-28"]
        assert {e[1][0] for e in mail.envelopes} == {"lead@example.com"}

    with db.session() as s:
        keys = list(s.scalars(select(Delivery.once_key).where(Delivery.event == "digest")
                              .order_by(Delivery.id)))
        log = service.list_deliveries(session=s).items
        [user] = [u for u in service.list_users(session=s) if u.email == "lead@example.com"]
    assert keys == [f"digest:{user.id}:2026-11-27", f"digest:{user.id}:2026-11-28"]
    assert [(d.event, d.status, d.attempts, d.channel_title) for d in log] == [
        ("digest", "delivered", 1, "Team leads")] * 2


def test_without_an_email_channel_nothing_is_queued_and_the_setting_says_why(
        db: Database) -> None:
    lead = person(db, "lead@example.com")
    shown = opt(db, lead, True)
    assert shown.channel_id is None
    assert shown.why_not is not None and "there is no email channel" in shown.why_not
    worker = deliverer.Deliverer(db)
    worker.step(datetime(2026, 11, 28, 10, 0, tzinfo=UTC))
    with db.session() as s:
        assert list(s.scalars(select(Delivery))) == []


def test_only_the_person_themselves_opts_in_and_admins_see_who(db: Database) -> None:
    lead = person(db, "lead@example.com")
    local = person(db, service.LOCAL_USER)  # single-user mode: no address to send to
    opt(db, lead, True)
    with pytest.raises(errors.Invalid, match="not an email address") as caught:
        opt(db, local, True)
    assert caught.value.problems[0].field == "subscribed"
    with db.session(actor=local) as s:
        assert "without sign-in" in (service.get_digest(session=s).why_not or "")
        assert [u.email for u in service.list_digest_recipients(session=s)] == [
            "lead@example.com"]
    with db.session(actor=lead) as s, pytest.raises(errors.Forbidden):
        service.list_digest_recipients(session=s)


def test_the_digest_hour_is_an_hour_of_the_day() -> None:
    assert get_settings({"EXTRACTS_DIGEST_HOUR": "23"}).digest_hour == 23
    with pytest.raises(errors.Invalid, match="EXTRACTS_DIGEST_HOUR='24' must be an hour of "
                                             r"the day, 0 to 23 \(UTC\)"):
        get_settings({"EXTRACTS_DIGEST_HOUR": "24"})


def test_the_database_refuses_a_second_digest_for_the_same_person_and_day(
        db: Database) -> None:
    lead = person(db, "lead@example.com")
    opt(db, lead, True)
    email_channel(db, 2525)
    at = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    assert digest.queue_digests(db, at) == 1
    assert digest.queue_digests(db, at + timedelta(hours=1)) == 0
    with db.session() as s:
        [row] = s.scalars(select(Delivery))
        copy = {c: getattr(row, c) for c in ("event_id", "event", "channel_id", "payload",
                                             "status", "created_at", "next_attempt_at",
                                             "attempts", "once_key")}
    assert copy["once_key"] == f"digest:{lead.user_id}:2026-11-27"
    with pytest.raises(IntegrityError), db.session() as s:  # what a second worker would meet
        s.add(Delivery(**copy))
