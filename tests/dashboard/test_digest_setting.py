"""The Settings page's daily digest: a signed-in person opts in and out for themselves, the
page says why no digest can be sent, and admins see who gets it."""

from __future__ import annotations

from datetime import UTC, datetime

from streamlit.testing.v1 import AppTest

from core import service
from core.db import Database
from dashboard import navigation
from tests.dashboard.conftest import open_page, texts
from tests.dashboard.test_sign_in import as_user, signed_in_app  # noqa: F401 (a fixture)

PAGE = navigation.SETTINGS


def email_channel(db: Database) -> None:
    with db.session() as s:
        service.create_channel(session=s, now=datetime(2026, 11, 1, tzinfo=UTC), data={
            "kind": "email", "title": "Team leads", "to": ["leads@example.com"],
            "smtp_host": "127.0.0.1", "smtp_port": 2525, "from_address": "extracts@example.com"})


def shown_recipients(at: AppTest) -> list[list[str]]:
    """The admin's table of who gets the digest, as shown (none: not shown)."""
    return [list(d.value["email"]) for d in at.dataframe
            if list(d.value.columns) == ["email", "name"]]


def recipients(db: Database) -> list[str]:
    with db.session() as s:
        return [u.email for u in service.list_digest_recipients(session=s)]


def test_a_person_opts_in_and_out_of_the_digest_for_themselves(
        signed_in_app: Database) -> None:  # noqa: F811
    email_channel(signed_in_app)
    at = as_user("lead@example.com", "Team Lead")
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.toggle(key="settings_digest").value is False
    assert recipients(signed_in_app) == []

    at.toggle(key="settings_digest").set_value(True).run()

    assert not at.exception
    assert "The daily digest goes to lead@example.com." in texts(at)
    assert "Sent from 07:00 UTC to lead@example.com through the SMTP server of the email " \
           "channel 'Team leads'." in texts(at)
    assert recipients(signed_in_app) == ["lead@example.com"]
    at.run()  # a later run changes nothing
    assert at.toggle(key="settings_digest").value is True
    assert recipients(signed_in_app) == ["lead@example.com"]

    at.toggle(key="settings_digest").set_value(False).run()

    assert not at.exception
    assert "You will get no more daily digests." in texts(at)
    assert recipients(signed_in_app) == []
    assert shown_recipients(at) == []  # not an admin


def test_without_an_email_channel_the_page_says_why_no_digest_can_be_sent(
        signed_in_app: Database) -> None:  # noqa: F811
    at = as_user("lead@example.com")
    at.switch_page(PAGE).run()
    at.toggle(key="settings_digest").set_value(True).run()
    assert not at.exception
    assert "No digest can be sent: there is no email channel; an admin adds one on the " \
           "Alerts page" in texts(at)


def test_admins_see_who_gets_the_digest(signed_in_app: Database) -> None:  # noqa: F811
    email_channel(signed_in_app)
    lead = as_user("lead@example.com")
    lead.switch_page(PAGE).run()
    lead.toggle(key="settings_digest").set_value(True).run()

    boss = as_user("boss@example.com", "The Boss")
    boss.switch_page(PAGE).run()
    assert not boss.exception
    assert shown_recipients(boss) == [["lead@example.com"]]


def test_single_user_mode_has_no_address_to_send_a_digest_to(app_db: Database) -> None:
    email_channel(app_db)
    at = open_page(PAGE)
    assert not at.exception
    assert at.toggle(key="settings_digest").disabled
    assert "No digest can be sent: without sign-in the dashboard knows no email address" \
        in texts(at)
    assert "Nobody gets the daily digest yet." in texts(at)
