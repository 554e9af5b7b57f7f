"""A link to one page, opened first on a freshly started server (a bookmark after a restart).

Pages live in pages/ beside streamlit_app.py, while the script Streamlit runs is
dashboard/router.py: were a `pages/` folder next to the main script, Streamlit would run it as an
old-style multipage app until the router first reached st.navigation, so a deep link opened
first would run that one page alone, without the router's sidebar or page config.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.ui import wait_idle


def test_a_deep_link_first_on_a_fresh_server_gets_the_whole_app(page: Page,
                                                                  app_server: str) -> None:
    page.goto(f"{app_server}/data_tables")
    expect(page.get_by_role("heading", name="Data tables")).to_be_visible()
    wait_idle(page)
    # The page has run: what it shows now is what the user gets (no need to wait long).
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="edit extract")).to_have_count(0, timeout=2_000)
    expect(nav.get_by_role("link", name="New extract")).to_be_visible(timeout=2_000)
    expect(page.get_by_role("combobox", name="Timezone for dates")).to_be_visible(timeout=2_000)
    expect(page.get_by_text("Worker running")).to_be_visible(timeout=2_000)
