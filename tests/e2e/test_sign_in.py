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
