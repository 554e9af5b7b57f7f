"""The alerts API: channels (admins; the webhook secret in the answer to POST only; Send
test to a real loopback receiver), rules (editors), alerts (paged; acknowledge), and each
person's daily digest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from core import service
from core.db import Database
from core.vocabulary import Role
from tests.api import test_roles
from tests.conftest import NOW
from tests.receivers import failed_extract, receiver

Client = Callable[..., TestClient]
as_role = test_roles.as_role  # the fixture: a client whose key has a role


def test_an_admin_makes_a_webhook_channel_whose_secret_is_shown_once_and_tests_it(
        as_role: Client) -> None:
    admin = as_role(Role.ADMIN)
    with receiver("webhook") as hook:
        made = admin.post("/api/v3/notification-channels", json={
            "kind": "webhook", "title": "Ops", "url": hook.url})
        assert made.status_code == 201, made.text
        body = made.json()
        hook.secret = body["secret"]
        assert body["secret"].startswith("whsec_") and body["url"] == hook.url
        listed = admin.get("/api/v3/notification-channels").json()
        assert [c["title"] for c in listed] == ["Ops"] and listed[0]["secret"] is None
        assert admin.get(f"/api/v3/notification-channels/{body['id']}").json()["secret"] is None

        tested = admin.post(f"/api/v3/notification-channels/{body['id']}/test")
        assert tested.status_code == 200, tested.text
        assert (tested.json()["status"], tested.json()["status_code"]) == ("delivered", 204)
        [event] = hook.accepted
        assert event["type"] == "test" and "Ops" in event["message"]

        hook.down = True
        failed = admin.post(f"/api/v3/notification-channels/{body['id']}/test").json()
        assert (failed["status"], failed["status_code"]) == ("failed", 503)
        assert failed["error"].startswith("HTTP 503")
    log = admin.get(f"/api/v3/notification-channels/{body['id']}/deliveries").json()
    assert log["count"] == 2
    assert [(d["event"], d["status"]) for d in log["results"]] == [
        ("test", "failed"), ("test", "delivered")]


def test_channels_are_for_admins_and_bad_ones_name_the_field(as_role: Client) -> None:
    editor = as_role(Role.EDITOR)
    refused = editor.post("/api/v3/notification-channels", json={
        "kind": "slack", "title": "x", "url": "https://hooks.slack.com/services/T/B/C"})
    assert refused.status_code == 403
    assert "needs the admin role" in refused.json()["details"]
    admin = as_role(Role.ADMIN)
    bad = admin.post("/api/v3/notification-channels", json={"kind": "email", "title": "x",
                                                             "to": ["lead@example.com"]})
    assert bad.status_code in (400, 422)
    assert "smtp_host" in str(bad.json()["details"])
    assert "from_address" in str(bad.json()["details"])
    assert admin.get("/api/v3/notification-channels").json() == []


def test_an_editor_makes_mutes_and_deletes_a_rule(as_role: Client) -> None:
    admin, editor = as_role(Role.ADMIN), as_role(Role.EDITOR)
    channel = admin.post("/api/v3/notification-channels", json={
        "kind": "slack", "title": "#alerts",
        "url": "https://hooks.slack.com/services/T0/B0/XyZsecret"}).json()
    assert channel["url"] == "https://hooks.slack.com/••••"
    made = editor.post("/api/v3/alert-rules", json={
        "events": ["run.failed", "extract.recovered"], "channel_ids": [channel["id"]]})
    assert made.status_code == 201, made.text
    rule = made.json()
    assert rule["extract_ids"] == [] and rule["datasources"] == []  # every extract
    until = (NOW + timedelta(hours=8)).isoformat().replace("+00:00", "Z")
    muted = editor.patch(f"/api/v3/alert-rules/{rule['id']}", json={"muted_until": until})
    assert muted.status_code == 200 and muted.json()["muted_until"].startswith("2026-11-28T18")
    assert editor.patch(f"/api/v3/alert-rules/{rule['id']}",
                        json={"muted_until": None}).json()["muted_until"] is None
    bad = editor.post("/api/v3/alert-rules", json={"events": [], "channel_ids": [424242]})
    assert bad.status_code in (400, 422)
    assert "events" in str(bad.json()["details"])
    unknown = editor.post("/api/v3/alert-rules", json={"events": ["run.failed"],
                                                       "channel_ids": [424242]})
    assert unknown.status_code in (400, 422)
    assert "notification channel 424242 does not exist" in str(unknown.json()["details"])
    assert editor.delete(f"/api/v3/alert-rules/{rule['id']}").status_code == 204
    assert editor.get("/api/v3/alert-rules").json() == []


def test_alerts_are_listed_paged_and_acknowledged(
        db: Database, as_role: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    extract_id = failed_extract(db, monkeypatch, "the source said no")
    viewer, editor = as_role(Role.VIEWER), as_role(Role.EDITOR)
    page = viewer.get("/api/v3/alerts", params={"status": "open"}).json()
    assert page["count"] == 1
    [alert] = page["results"]
    assert (alert["kind"], alert["extract_id"], alert["status"]) == (
        "run.failed", extract_id, "open")
    assert "the source said no" in alert["message"]
    assert viewer.post(f"/api/v3/alerts/{alert['id']}/acknowledge").status_code == 403
    acked = editor.post(f"/api/v3/alerts/{alert['id']}/acknowledge")
    assert acked.status_code == 200
    assert acked.json()["acknowledged_by"].startswith("key_")
    assert viewer.get("/api/v3/alerts", params={"status": "closed"}).json()["count"] == 0
    assert viewer.get("/api/v3/alerts", params={"extract_id": extract_id}).json()["count"] == 1
    assert viewer.get("/api/v3/alerts", params={"extract_id": 999}).json()["count"] == 0
    assert viewer.get("/api/v3/alerts", params={"status": "shut"}).status_code in (400, 422)
    assert viewer.post("/api/v3/alerts/999/acknowledge").status_code == 403
    assert editor.post("/api/v3/alerts/999/acknowledge").status_code == 404


def test_a_person_opts_in_to_the_digest_with_their_own_key(db: Database,
                                                            as_role: Client) -> None:
    with db.session() as s:
        ana = service.sign_in(session=s, email="ana@example.com", name="Ana", now=NOW)
    mine = as_role(Role.VIEWER, owner=ana)  # a viewer may get the digest too
    before = mine.get("/api/v3/digest")
    assert before.status_code == 200, before.text
    assert before.json()["email"] == "ana@example.com"
    assert before.json()["subscribed"] is False
    assert "there is no email channel" in before.json()["why_not"]

    joined = mine.put("/api/v3/digest/", json={"subscribed": True})  # either slash
    assert (joined.status_code, joined.json()["subscribed"]) == (200, True)
    assert mine.get("/api/v3/digest").json()["subscribed"] is True
    admin = as_role(Role.ADMIN)
    assert [u["email"] for u in admin.get("/api/v3/digest/recipients").json()] == [
        "ana@example.com"]
    assert mine.get("/api/v3/digest/recipients").status_code == 403
    assert mine.put("/api/v3/digest", json={"subscribed": False}).json()["subscribed"] is False
    assert admin.get("/api/v3/digest/recipients").json() == []


def test_bad_digest_requests_name_the_field_and_change_nothing(db: Database,
                                                               as_role: Client) -> None:
    with db.session() as s:
        ana = service.sign_in(session=s, email="ana@example.com", name="Ana", now=NOW)
    mine = as_role(Role.VIEWER, owner=ana)
    for body, said in (({"subscribed": "maybe"}, "subscribed: must be true or false"),
                       ({}, "subscribed"), ({"subscribed": True, "hour": 3}, "hour"),
                       ([True], "body: must be an object")):
        answer = mine.put("/api/v3/digest", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert said in answer.json()["details"], answer.text
    # A key nobody signed in for has no email to send a digest to.
    ownerless = as_role(Role.ADMIN).put("/api/v3/digest", json={"subscribed": True})
    assert ownerless.status_code == 400
    assert "an API key without an owner has no email" in ownerless.json()["details"]
    assert mine.get("/api/v3/digest").json()["subscribed"] is False
