"""What people write is shown as text: an extract titled with a Markdown image, emphasis and a
colour directive shows those characters, and no viewer's browser fetches the image."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core import service
from core.config import get_settings
from core.db import open_database
from tests import servers


@pytest.fixture
def pixel() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    def answer(path: str, _headers: dict[str, str]) -> servers.Answer:
        hits.append(path)
        return 204, {}, b""

    with servers.http_server(answer) as url:
        yield f"{url}/pixel.png", hits


def test_a_markdown_title_is_text_and_fetches_nothing(
        page: Page, app_server: str, tmp_path: Path, pixel: tuple[str, list[str]]) -> None:
    url, hits = pixel
    title = f"![tracker]({url}) **loud** :red[alarm] <b>bold</b>"
    db = open_database(get_settings({"EXTRACTS_VAR_DIR": str(tmp_path / "var"),
                                     "EXTRACTS_SECRET_KEY": "e2e-secret"}))
    with db.session() as session:
        [extract] = service.create_extracts(session=session, data={
            "data_table_title": "Tracked", "template_id": 1, "accounts": [1], "title": title,
            "template_settings": {"fields": ["date", "campaign_id", "clicks"]}})
    db.dispose()

    page.goto(f"{app_server}/extract?id={extract.id}")
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    page.goto(app_server)
    expect(page.get_by_role("heading", name="Extracts")).to_be_visible()
    page.goto(f"{app_server}/edit_extract?id={extract.id}")
    expect(page.get_by_role("heading", name=f"Edit {title}")).to_be_visible()
    assert page.locator(f'img[src="{url}"]').count() == 0
    assert hits == []
