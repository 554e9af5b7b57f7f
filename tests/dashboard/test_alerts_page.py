"""The Alerts page: open alerts (acknowledge), channels (add with the secret shown once, Send
test to a real loopback receiver), rules, the delivery log; the extract page's open alerts."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import service
from core.db import Database
from dashboard import navigation
from tests.conftest import NOW
from tests.dashboard.conftest import open_page, texts
from tests.receivers import failed_extract, receiver

PAGE = navigation.ALERTS


def click(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def test_an_open_alert_is_listed_and_acknowledged(
        app_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    failed_extract(app_db, monkeypatch, "the access token was revoked")
    at = open_page(PAGE)
    assert not at.exception
    [table, *_] = at.dataframe
    assert list(table.value["kind"]) == ["run.failed"]
    assert "the access token was revoked" in table.value["message"][0]

    at = click(at, "Acknowledge")

    assert not at.exception
    assert "Acknowledged run.failed of" in texts(at)
    assert at.dataframe[0].value["acknowledged"][0].startswith("local")
    with app_db.session() as s:
        [alert] = service.list_alerts(session=s, status="open").items
    assert alert.acknowledged_at is not None


def test_the_extract_page_shows_its_open_alert(
        app_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    extract_id = failed_extract(app_db, monkeypatch, "the access token was revoked")
    at = AppTest.from_file(str(navigation.PAGES.parent / "dashboard" / "router.py"),
                           default_timeout=120)
    at.query_params["id"] = str(extract_id)
    at.run()
    at.switch_page(navigation.EXTRACT).run()
    assert not at.exception
    assert "run.failed" in texts(at) and "the access token was revoked" in texts(at)


def test_a_webhook_channel_is_added_its_secret_shown_once_and_a_test_delivered(
        app_db: Database) -> None:
    with receiver("webhook") as hook:
        at = open_page(PAGE)
        at.text_input(key="alerts_channel_title").input("Ops webhook")
        at.text_input(key="alerts_url").input(hook.url)
        at = click(at, "Add channel")
        assert not at.exception
        [secret] = [c.value for c in at.code]
        assert secret.startswith("whsec_") and "shown only this once" in texts(at)
        hook.secret = secret

        at = click(at, "Send test")

        assert not at.exception
        assert "Delivered (status 204)" in texts(at)
        assert secret not in texts(at) and secret not in repr(at.session_state)
        [event] = hook.accepted
        assert event["type"] == "test"
        at.run()
        log = at.dataframe[-1].value
        assert list(zip(log["channel"], log["event"], log["status"], strict=True)) == [
            ("Ops webhook", "test", "delivered")]


def test_a_channel_without_its_url_is_refused_naming_it(app_db: Database) -> None:
    at = open_page(PAGE)
    at.text_input(key="alerts_channel_title").input("No url")
    at = click(at, "Add channel")
    assert not at.exception
    assert "url: is required for this kind of channel" in texts(at)
    with app_db.session() as s:
        assert service.list_channels(session=s) == []


def test_a_rule_is_added_and_deleted(app_db: Database) -> None:
    with app_db.session() as s:
        service.create_channel(session=s, now=NOW, data={
            "kind": "slack", "title": "#data", "url": "https://hooks.slack.com/services/A/B/C"})
    at = open_page(PAGE)
    at.multiselect(key="alerts_rule_channels").select(1)
    at = click(at, "Add rule")
    assert not at.exception
    assert "run.failed, extract.recovered of every extract → #data" in texts(at)
    with app_db.session() as s:
        [rule] = service.list_alert_rules(session=s)
    assert rule.events == ["run.failed", "extract.recovered"] and rule.channel_ids == [1]

    at = click(at, "Delete")
    assert not at.exception
    with app_db.session() as s:
        assert service.list_alert_rules(session=s) == []
