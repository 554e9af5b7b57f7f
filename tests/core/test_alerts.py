"""Alerts end to end with real receivers on loopback: a failing extract's alert reaches a
signed webhook, Slack and email; a receiver that is down gets it once when it is back; hours
of simulated failure send one alert, reminders at the interval and one recovery."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core import errors, schemas, service
from core.connectors import registry
from core.connectors.base import FetchRequest, FetchResult, SourceError
from core.db import Database
from core.models import AuditEvent, Delivery
from core.services.alerts import delivery, events
from core.vocabulary import ActorKind, Role
from core.worker import deliverer, executors
from tests.conftest import NOW, make_extract
from tests.receivers import Receiver, receiver, smtp_server

# The outbox, the claims and the open-alert key depend on the database: both run these.
pytestmark = pytest.mark.both_databases
WEEK = (date(2026, 11, 1), date(2026, 11, 7))
ADMIN = schemas.Actor(kind=ActorKind.USER, name="lead@example.com", role=Role.ADMIN)


@pytest.fixture(autouse=True)
def reminders_every_two_hours(db: Database) -> None:
    # Reminders every 2 hours; no auto-pause in these few hours of failures.
    db.settings = db.settings.with_overrides(alert_reminder_hours=2, auto_pause_after=100)


class Source:
    """Sample Ads, failing (for good, not transiently) while `failing` is set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.failing = False
        sample = registry.get("sample_ads")
        real = sample.fetch

        def fetch(request: FetchRequest) -> FetchResult:
            if self.failing:
                raise SourceError("the access token was revoked; reconnect the account")
            return real(request)

        monkeypatch.setattr(sample, "fetch", fetch)


@pytest.fixture
def source(monkeypatch: pytest.MonkeyPatch) -> Source:
    return Source(monkeypatch)


_IDS = itertools.count()


def run_at(db: Database, extract_id: int, at: datetime) -> str | None:
    """Queue a manual run at `at` and carry it out as the worker does (auto-pause included)."""
    with db.session() as s:
        [run] = service.run_extract(session=s, extract_id=extract_id, date_from=WEEK[0],
                                    date_to=WEEK[1], now=at)
    return executors.carry_out(db, run.id, f"test-{next(_IDS)}", clock=lambda: at)


def webhook_channel(db: Database, url: str, **extra: Any) -> tuple[int, str]:
    with db.session() as s:
        made = service.create_channel(session=s, now=NOW, data={
            "kind": "webhook", "title": "Ops webhook", "url": url, **extra})
    assert made.secret is not None and made.secret.startswith("whsec_")
    return made.id, made.secret


def rule(db: Database, channel_ids: list[int], events: list[str], **scope: Any) -> int:
    with db.session() as s:
        return service.create_alert_rule(session=s, now=NOW, data={
            "events": events, "channel_ids": channel_ids, **scope}).id


def deliveries(db: Database) -> list[Delivery]:
    with db.session() as s:
        rows = list(s.scalars(select(Delivery).order_by(Delivery.id)))
        s.expunge_all()
        return rows


@pytest.fixture
def hook(db: Database) -> Iterator[Receiver]:
    """A webhook receiver on loopback, with its channel and a rule sending it run.failed."""
    with receiver("webhook") as got:
        channel_id, got.secret = webhook_channel(db, got.url)
        rule(db, [channel_id], ["run.failed"])
        yield got


@pytest.fixture
def extract_id(db: Database) -> int:
    with db.session() as s:
        return make_extract(s).id


def test_a_final_failure_reaches_a_signed_webhook_slack_and_email(
        db: Database, source: Source, extract_id: int) -> None:
    with receiver("webhook") as hook, receiver("slack") as slack, smtp_server() as (port, mail):
        webhook_id, secret = webhook_channel(db, hook.url)
        hook.secret = secret
        with db.session() as s:
            slack_id = service.create_channel(session=s, now=NOW, data={
                "kind": "slack", "title": "#data-alerts", "url": slack.url}).id
            email_id = service.create_channel(session=s, now=NOW, data={
                "kind": "email", "title": "Team leads", "to": ["lead@example.com"],
                "smtp_host": "127.0.0.1", "smtp_port": port, "starttls": False,
                "from_address": "extracts@example.com"}).id
        rule(db, [webhook_id, slack_id, email_id], ["run.failed", "extract.recovered"])
        source.failing = True

        assert run_at(db, extract_id, NOW) == "failed"
        assert delivery.deliver_due(db, NOW) == 3

        assert hook.rejected == [] and slack.rejected == []
        [event] = hook.accepted
        assert event["type"] == "run.failed"
        assert event["extract"]["id"] == extract_id
        assert event["extract"]["data_table"]["title"] == "Campaign stats"
        assert event["extract"]["connection"]["datasource"] == "sample_ads"
        assert event["run"]["error"] == "the access token was revoked; reconnect the account"
        assert event["run"]["date_from"] == "2026-11-01"
        assert event["url"].endswith(f"/extract?id={extract_id}")
        [message] = slack.accepted
        assert "run.failed" in message["text"] and "revoked" in message["text"]
        [email] = mail.messages
        assert email["To"] == "lead@example.com"
        assert email["Subject"].startswith("[Extracts] run.failed:")
        assert f"/extract?id={extract_id}" in email.get_payload(decode=True).decode()

        with db.session() as s:
            log = service.list_deliveries(session=s).items
            [alert] = service.list_alerts(session=s, status="open").items
        assert {(d.channel_title, d.status, d.attempts) for d in log} == {
            ("Ops webhook", "delivered", 1), ("#data-alerts", "delivered", 1),
            ("Team leads", "delivered", 1)}
        assert next(d.status_code for d in log if d.channel_title == "Ops webhook") == 204
        assert (alert.kind, alert.extract_id) == ("run.failed", extract_id)


def test_a_receiver_down_for_a_while_gets_the_event_once_with_the_same_id(
        db: Database, source: Source, extract_id: int, hook: Receiver) -> None:
    source.failing = True
    run_at(db, extract_id, NOW)
    hook.down = True
    now = NOW
    for _ in range(4):  # four attempts while it is down, each at its backoff
        assert delivery.deliver_due(db, now) == 1
        [row] = deliveries(db)
        assert row.status == "pending" and row.status_code == 503
        assert delivery.deliver_due(db, row.next_attempt_at - timedelta(seconds=1)) == 0
        now = row.next_attempt_at
    hook.down = False
    assert delivery.deliver_due(db, now) == 1
    assert delivery.deliver_due(db, now + timedelta(hours=2)) == 0

    [event] = hook.accepted
    assert len(hook.attempts) == 5 and set(hook.attempts) == {event["id"]}
    [row] = deliveries(db)
    assert (row.status, row.attempts, row.status_code, row.error) == ("delivered", 5, 204, None)
    # 30 s, 1 min, 2 min, 4 min apart.
    assert now - NOW == timedelta(seconds=30 + 60 + 120 + 240)


def test_a_receiver_that_stays_down_is_given_up_after_the_retry_period(
        db: Database, source: Source, extract_id: int, hook: Receiver) -> None:
    source.failing = True
    run_at(db, extract_id, NOW)
    hook.down = True
    now, attempts = NOW, 0
    while (row := deliveries(db)[0]).status == "pending":
        now = max(now, row.next_attempt_at)
        attempts += delivery.deliver_due(db, now)
    assert row.status == "failed" and row.attempts == attempts
    assert row.error is not None and row.error.startswith(f"gave up after {attempts} attempts")
    assert timedelta(hours=23) < now - NOW <= timedelta(hours=24)
    assert hook.accepted == []


def test_hours_of_failure_send_one_alert_reminders_at_the_interval_and_one_recovery(
        db: Database, source: Source, extract_id: int) -> None:
    with receiver("webhook") as hook:
        channel_id, hook.secret = webhook_channel(db, hook.url)
        rule(db, [channel_id], ["run.failed", "extract.recovered",
                                "extract.paused_automatically"])
        step = deliverer.Deliverer(db, clock=lambda: now)
        source.failing = True
        now = NOW
        # A run every hour for 7 hours, all failing; the deliverer steps every 10 minutes.
        for minute in range(0, 7 * 60, 10):
            now = NOW + timedelta(minutes=minute)
            if minute % 60 == 0:
                assert run_at(db, extract_id, now) == "failed"
            step.step(now)
        source.failing = False
        now = NOW + timedelta(hours=7)
        assert run_at(db, extract_id, now) == "succeeded"
        step.step(now)
        for minute in range(10, 5 * 60, 10):  # recovered: nothing more, for hours
            step.step(now + timedelta(minutes=minute))

    kinds = [(e["type"], e["reminder"], e["time"]) for e in hook.accepted]
    assert kinds == [
        ("run.failed", False, NOW.isoformat()),
        ("run.failed", True, (NOW + timedelta(hours=2)).isoformat()),
        ("run.failed", True, (NOW + timedelta(hours=4)).isoformat()),
        ("run.failed", True, (NOW + timedelta(hours=6)).isoformat()),
        ("extract.recovered", False, (NOW + timedelta(hours=7)).isoformat()),
    ]
    assert len({e["id"] for e in hook.accepted}) == 5
    assert hook.accepted[3]["alert"]["reminders"] == 3
    with db.session() as s:
        assert service.list_alerts(session=s, status="open").items == []
        [closed] = service.list_alerts(session=s, status="closed").items
    assert closed.closed_at == NOW + timedelta(hours=7)


def test_an_acknowledged_alert_sends_no_more_reminders(
        db: Database, source: Source, extract_id: int, hook: Receiver) -> None:
    source.failing = True
    run_at(db, extract_id, NOW)
    with db.session() as s:
        [alert] = service.list_alerts(session=s, status="open").items
        service.act_as(s, ADMIN, NOW)
        acked = service.acknowledge_alert(session=s, alert_id=alert.id, now=NOW)
    assert acked.acknowledged_by == "lead@example.com"
    step = deliverer.Deliverer(db)
    for hours in range(0, 8):
        step.step(NOW + timedelta(hours=hours))
    assert [e["reminder"] for e in hook.accepted] == [False]


def test_rules_send_only_the_events_and_extracts_they_name(
        db: Database, source: Source) -> None:
    with db.session() as s:
        first = make_extract(s, accounts=[1]).id
        second = make_extract(s, accounts=[2], data_table_title="Other table").id
    with receiver("webhook") as hook:
        channel_id, hook.secret = webhook_channel(db, hook.url)
        rule(db, [channel_id], ["run.failed"], extract_ids=[second])
        with db.session() as s:
            muted = service.create_alert_rule(session=s, now=NOW, data={
                "events": ["run.failed"], "channel_ids": [channel_id],
                "muted_until": (NOW + timedelta(days=1)).isoformat()})
        assert muted.muted_until == NOW + timedelta(days=1)
        source.failing = True
        run_at(db, first, NOW)
        run_at(db, second, NOW)
        run_at(db, second, NOW + timedelta(minutes=5))  # still failing: no second alert
        delivery.deliver_due(db, NOW + timedelta(minutes=5))
    assert [(e["type"], e["extract"]["id"]) for e in hook.accepted] == [("run.failed", second)]


def test_bad_channels_and_rules_are_refused_naming_the_field_and_nothing_is_written(
        db: Database) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"kind": "webhook", "title": "x"}, "url", "is required"),
        ({"kind": "webhook", "title": "x", "url": "ftp://example.com/x"}, "url",
         "must be an http:// or https:// URL"),
        ({"kind": "webhook", "title": "x", "url": "https://example.com", "secret": "abc"},
         "secret", "must be whsec_"),
        ({"kind": "email", "title": "x", "to": ["a@example.com"]}, "smtp_host", "is required"),
        ({"kind": "email", "title": "x", "to": ["not an address"], "smtp_host": "h",
          "from_address": "a@example.com"}, "to", "must be an email address"),
        ({"kind": "pager", "title": "x"}, "kind", ""),
    ]
    for body, field, words in cases:
        with db.session() as s, pytest.raises(errors.Invalid) as caught:
            service.create_channel(session=s, data=body, now=NOW)
        assert caught.value.for_field(field), (body, caught.value.problems)
        assert words in " ".join(caught.value.for_field(field))
    with db.session() as s, pytest.raises(errors.Invalid) as caught:
        service.create_alert_rule(session=s, now=NOW, data={
            "events": ["run.failed"], "channel_ids": [99]})
    assert caught.value.for_field("channel_ids") == ["notification channel 99 does not exist"]
    with db.session() as s, pytest.raises(errors.Invalid) as caught:
        service.create_alert_rule(session=s, now=NOW, data={
            "events": ["run.exploded"], "channel_ids": [1]})
    assert caught.value.for_field("events") == [
        "must be one of run.failed, extract.paused_automatically, extract.recovered, "
        "extract.stale, run.volume_anomaly, run.succeeded, not 'run.exploded'"]
    with db.session() as s:
        assert service.list_channels(session=s) == []
        assert service.list_alert_rules(session=s) == []


def test_alert_hosts_confine_where_alerts_go(db: Database) -> None:
    db.settings = db.settings.with_overrides(alert_hosts=frozenset({"hooks.slack.com"}))
    with db.session() as s, pytest.raises(errors.Invalid) as caught:
        service.create_channel(session=s, now=NOW, data={
            "kind": "webhook", "title": "x", "url": "http://127.0.0.1:9/x"})
    assert "EXTRACTS_ALERT_HOSTS" in caught.value.for_field("url")[0]


def test_secrets_never_reach_the_audit_log_or_a_listing(db: Database) -> None:
    slack_url = "https://hooks.slack.com/services/T000/B000/sEcReTsEcReTsEcReT"
    with db.session() as s:
        service.act_as(s, ADMIN, NOW)
        hook = service.create_channel(session=s, now=NOW, data={
            "kind": "webhook", "title": "hook", "url": "https://example.com/in"})
        service.create_channel(session=s, now=NOW, data={
            "kind": "slack", "title": "slack", "url": slack_url})
        service.create_channel(session=s, now=NOW, data={
            "kind": "email", "title": "mail", "to": ["a@example.com"],
            "smtp_host": "smtp.example.com", "username": "bot", "password": "hunter2-pass",
            "from_address": "bot@example.com"})
    with db.session() as s:
        listed = [c.model_dump_json() for c in service.list_channels(session=s)]
        logged = [str(e.changes) for e in s.scalars(select(AuditEvent))]
    assert hook.secret is not None
    for secret in (hook.secret, slack_url, "sEcReTsEcReT", "hunter2-pass"):
        assert not any(secret in text for text in listed + logged)
    assert any("(changed)" in text for text in logged)
    assert "whsec_" not in " ".join(listed)



def _shape(value: Any) -> Any:
    """Keys all the way down (values' types aside): what a receiver's parser relies on."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return None


def test_the_readme_example_event_has_the_shape_of_a_real_one(
        db: Database, source: Source, extract_id: int, hook: Receiver) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("<!-- alert-event-example")[1].split("```json\n")[1].split("```")[0]
    source.failing = True
    run_at(db, extract_id, NOW)
    delivery.deliver_due(db, NOW)
    [event] = hook.accepted
    assert _shape(json.loads(example)) == _shape(event)


def test_a_rule_s_freshness_limit_raises_extract_stale_once_and_a_success_recovers_it(
        db: Database, source: Source, extract_id: int) -> None:
    assert run_at(db, extract_id, NOW) == "succeeded"
    with receiver("webhook") as hook:
        channel_id, hook.secret = webhook_channel(db, hook.url)
        rule(db, [channel_id], ["extract.stale", "extract.recovered"],
             extract_ids=[extract_id], stale_after_hours=3)
        step = deliverer.Deliverer(db)
        for minute in range(0, 4 * 60, 10):
            step.step(NOW + timedelta(minutes=minute))
        assert run_at(db, extract_id, NOW + timedelta(hours=4)) == "succeeded"
        step.step(NOW + timedelta(hours=4))
    assert [(e["type"], e["time"]) for e in hook.accepted] == [
        ("extract.stale", (NOW + timedelta(hours=3, minutes=10)).isoformat()),
        ("extract.recovered", (NOW + timedelta(hours=4)).isoformat())]
    assert "no successful run for 3 hours" in hook.accepted[0]["message"]


def test_a_freshness_limit_must_be_a_whole_number_of_hours(db: Database) -> None:
    with db.session() as s:
        channel = service.create_channel(session=s, now=NOW, data={
            "kind": "webhook", "title": "x", "url": "https://example.com/in"})
    with db.session() as s, pytest.raises(errors.Invalid) as caught:
        service.create_alert_rule(session=s, now=NOW, data={
            "events": ["extract.stale"], "channel_ids": [channel.id], "stale_after_hours": 0})
    assert caught.value.for_field("stale_after_hours") == [
        "Input should be greater than or equal to 1, not 0"]


def test_a_failure_to_write_alerts_never_loses_the_run_s_outcome(
        db: Database, source: Source, extract_id: int, hook: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a bug in the alerts")

    monkeypatch.setattr(events, "raise_alert", broken)
    source.failing = True
    assert run_at(db, extract_id, NOW) == "failed"
    with db.session() as s:
        assert service.get_extract(session=s, extract_id=extract_id).status == "error"
        assert service.list_alerts(session=s).items == []
    assert deliveries(db) == []
