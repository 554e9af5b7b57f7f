"""Sign-in for real: Chromium, the product's `streamlit run`, and an OpenID Connect provider
started here on loopback (oidc-provider-mock). A new person signs in and is a viewer, an email
from EXTRACTS_ADMIN_EMAILS is an admin, and signing out leads back to the sign-in page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import serving_with_sign_in, sign_in


@pytest.fixture
def app_server(tmp_path: Path, oidc_provider: str) -> Iterator[str]:
    with serving_with_sign_in(tmp_path, oidc_provider, admins="boss@example.com") as url:
        yield url


def test_the_sign_in_page_shows_nothing_else(page: Page, app_server: str) -> None:
    page.goto(app_server)
    expect(page.get_by_text("Sign in to see and manage the data extracts.")).to_be_visible()
    expect(page.get_by_role("heading", name="Extracts", exact=True)).to_have_count(1)
    expect(page.get_by_role("link", name="New extract")).to_have_count(0)


def test_people_sign_in_with_their_role_and_sign_out(page: Page, app_server: str) -> None:
    sign_in(page, app_server, "ana")
    expect(page.get_by_text("Signed in as Ana Analyst (ana@example.com) · viewer")
           ).to_be_visible()
    expect(page.get_by_role("heading", name="Extracts")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click()  # the provider's own page
    expect(page.get_by_text("Sign in to see and manage the data extracts.")).to_be_visible()

    sign_in(page, app_server, "boss")
    expect(page.get_by_text("Signed in as The Boss (boss@example.com) · admin")).to_be_visible()


def test_without_signing_in_the_api_of_the_dashboard_is_closed_too(app_server: str) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{app_server}/api/v3/extracts", timeout=10)
    assert refused.value.code == 401


def test_an_export_link_downloads_only_in_a_signed_in_browser(page: Page, app_server: str,
                                                             tmp_path: Path) -> None:
    import time
    import urllib.error
    import urllib.request

    from core import service
    from core.config import get_settings
    from core.db import open_database
    from tests.conftest import make_extract

    # The server's own database and var folder, opened here too: one extract, run by the
    # server's worker, and a CSV export of its data table written where the server serves
    # exports from.
    db = open_database(get_settings({"EXTRACTS_VAR_DIR": str(tmp_path / "var"),
                                     "EXTRACTS_SECRET_KEY": "e2e-secret"}))
    try:
        with db.session() as s:
            extract = make_extract(s, schedules=[])
            [run] = service.run_extract(session=s, extract_id=extract.id)
        deadline = time.monotonic() + 120
        while run.status != "succeeded":
            assert run.status not in ("failed", "cancelled") and time.monotonic() < deadline, run
            time.sleep(0.2)
            with db.session() as s:
                run = service.get_run(session=s, run_id=run.id)
        with db.session() as s:
            export = service.start_export(session=s, data_table_id=extract.data_table_id)
        while export.state != "done":
            assert export.state != "failed" and time.monotonic() < deadline, export
            time.sleep(0.1)
            with db.session() as s:
                export = service.get_export(session=s, token=export.token)
    finally:
        db.dispose()
    link = f"{app_server}/downloads/{export.token}/{export.file_name}"

    # The link alone (a browser or script that never signed in) gets nothing.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(link, timeout=10)
    assert refused.value.code == 401
    assert b"Sign in to the dashboard first" in refused.value.read()
    # A cookie that merely looks like Streamlit's is not a signature.
    forged = urllib.request.Request(link, headers={
        "Cookie": '_streamlit_user={"email": "ana@example.com", "is_logged_in": true}'})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    assert refused.value.code == 401

    # Signed in (a viewer), the same link downloads the rows.
    sign_in(page, app_server, "ana")
    expect(page.get_by_text("Signed in as Ana Analyst (ana@example.com) · viewer")
           ).to_be_visible()
    answer = page.request.get(link)
    assert answer.status == 200, answer.text()
    lines = answer.text().splitlines()
    assert lines[0].startswith("account_id,account_name")
    assert len(lines) == export.rows_total + 1 == (run.rows or 0) + 1
