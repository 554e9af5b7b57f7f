"""A person edits a connection, refreshes it and deletes it, in a real browser."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.ui import fill, wait_idle


def test_edit_refresh_and_delete_a_connection(page: Page, app_server: str) -> None:
    page.goto(f"{app_server}/connections")
    expect(page.get_by_role("heading", name="Sample Ads")).to_be_visible()
    wait_idle(page)
    card = page.locator(".st-key-connections_card_1")
    # Sample Ads has no secret setting: nothing is masked.
    expect(card.get_by_text("••••••••")).to_have_count(0)

    card.get_by_text("Edit", exact=True).click()
    fill(page, card.get_by_label("Title", exact=True), "Demo ads")
    card.get_by_role("button", name="Test and save").click()
    wait_idle(page)
    expect(page.get_by_text("Saved 'Demo ads': tested, accounts and templates refreshed."
                            )).to_be_visible()
    expect(page.get_by_role("heading", name="Demo ads")).to_be_visible()

    card.get_by_role("button", name="Refresh accounts and templates").click()
    wait_idle(page)
    expect(card.get_by_text("templates unchanged")).to_be_visible()

    card.get_by_text("Delete", exact=True).click()
    card.get_by_role("button", name="Delete connection").click()
    wait_idle(page)
    expect(page.get_by_text("Deleted 'Demo ads'.")).to_be_visible()
    expect(page.get_by_text("No connections yet: add one below.")).to_be_visible()
