"""What people write is shown as text: an extract titled with a Markdown image, emphasis and a
colour directive shows those characters, and no viewer's browser fetches the image."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from core import service
from core.config import get_settings
from core.db import open_database


@pytest.fixture
def pixel() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pixel.png", hits
    server.shutdown()
    server.server_close()


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
