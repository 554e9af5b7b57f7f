"""The API docs render in a real browser with nothing fetched from elsewhere."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect


def test_the_api_docs_render_offline(page: Page, app_server: str) -> None:
    ours = urlsplit(app_server).netloc
    elsewhere: list[str] = []

    def only_ours(route: Route) -> None:
        if urlsplit(route.request.url).netloc == ours:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_ours)
    page.goto(f"{app_server}/api/docs")
    expect(page.get_by_role("heading", name="Extracts API")).to_be_visible()
    expect(page.get_by_text("/v3/extracts/{extract_id}/run", exact=True).first).to_be_visible()
    assert elsewhere == []
