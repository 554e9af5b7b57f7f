"""How a person works Streamlit's widgets, in Playwright terms, plus the docs screenshots.

Every change to a widget outside a form makes Streamlit rerun the script; each helper waits
until the server has answered it and the rerun has ended (`watch_server`), so the
next step never acts on a widget that is about to be replaced, however slowly a loaded machine
gets the rerun going. A change that changes nothing is not made.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Literal
from weakref import WeakKeyDictionary

from playwright.sync_api import Locator, Page, expect

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Long enough for the browser to send the change and the server to start the rerun.
SETTLE_MS = 300


def wait_idle(page: Page, timeout: float = 30_000) -> None:
    """Wait until the script is not running (after giving a just-made change time to land)."""
    page.wait_for_timeout(SETTLE_MS)
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=timeout)


_SERVER_FRAMES: WeakKeyDictionary[Page, list[int]] = WeakKeyDictionary()


def watch_server(page: Page) -> None:
    """Count the messages the server sends this page (call it before the page opens the app).

    A rerun always sends some; the script-state attribute cannot tell, since the browser may
    draw a quick rerun's start and end as one frame.
    """
    frames = _SERVER_FRAMES.setdefault(page, [0])

    def count(_payload: object) -> None:
        frames[0] += 1

    page.on("websocket", lambda socket: socket.on("framereceived", count))


@contextmanager
def rerun_after(page: Page, widget: Locator, timeout: float = 30_000) -> Iterator[None]:
    """Around a change to `widget`: then wait until the server has answered it with a rerun
    and the rerun has ended. A widget inside a form causes none (its form's submit does)."""
    frames = _SERVER_FRAMES.get(page)
    if frames is None or widget.locator("xpath=ancestor::*[@data-testid='stForm']").count():
        yield
        wait_idle(page, timeout)
        return
    wait_idle(page, timeout)
    before = frames[0]
    yield
    deadline = time.monotonic() + timeout / 1000
    while frames[0] == before:  # events are delivered while Playwright waits
        assert time.monotonic() < deadline, "the server never answered the change"
        page.wait_for_timeout(50)
    wait_idle(page, timeout)


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the selectbox or multiselect labelled `label`."""
    box = page.get_by_role("combobox", name=label, exact=True)
    if box.input_value() == option or page.get_by_role(
            "button", name=f"Remove {option}", exact=True).count():
        return  # already chosen
    with rerun_after(page, box):
        box.click()
        page.get_by_role("option", name=option, exact=True).click()


def set_checkbox(page: Page, label: str, checked: bool, role: Literal["checkbox", "switch"]
                 = "checkbox") -> None:
    """Tick or untick the checkbox (or st.toggle, a switch) labelled `label`."""
    box = page.get_by_role(role, name=label, exact=True)
    if box.is_checked() != checked:
        with rerun_after(page, box):
            # The input itself is visually hidden; a person clicks its label.
            page.locator("label").filter(has=box).click()
    expect(box).to_be_checked(checked=checked)


def fill(page: Page, field: Locator, text: str) -> None:
    """Type `text` into a text, number or date input and commit it with Enter."""
    if field.input_value() == text:
        return
    with rerun_after(page, field):
        field.fill(text)
        field.press("Enter")


def fill_date(page: Page, label: str, day: date) -> None:
    """Type `day` into the date input labelled `label`, segment by segment, and commit it."""
    shown = page.get_by_label(label, exact=True)
    if shown.text_content() != day.strftime("%Y/%m/%d"):
        # Streamlit's date input is a row of year / month / day spin buttons; typing the
        # digits into the first one moves on to the next, as it does for a person.
        year = page.get_by_role("spinbutton", name=f"year, {label}", exact=True)
        with rerun_after(page, year):
            year.click()
            page.keyboard.type(day.strftime("%Y%m%d"))
            page.keyboard.press("Enter")
            # The input sends its value when its calendar closes: a person clicks elsewhere.
            page.mouse.click(1, 1)
    expect(shown).to_have_text(day.strftime("%Y/%m/%d"))


def grid(frame: Locator) -> list[dict[str, str]]:
    """The rows an st.dataframe has drawn, as {column: cell text}.

    The grid is a canvas; its accessible twin, a table of the rows in view, is what a screen
    reader (and this) reads.
    """
    # The grid draws (and fills its twin) a moment after the element appears.
    expect(frame.locator("td[role=gridcell]").first).to_be_attached()
    columns = frame.locator("th[role=columnheader]").all_text_contents()
    rows = []
    for row in frame.locator("tbody tr[role=row]").all():
        cells = row.locator("td[role=gridcell]").all_text_contents()
        rows.append(dict(zip(columns, cells, strict=True)))
    return rows


def screenshot(page: Page, name: str) -> None:
    """Save the viewport as docs/<name>.png when UPDATE_SCREENSHOTS=1 (they are committed)."""
    if os.environ.get("UPDATE_SCREENSHOTS") != "1":
        return
    wait_idle(page)
    # The pointer rests on an empty corner: no hover effects or tooltips in the picture.
    page.mouse.move(1395, 995)
    page.wait_for_timeout(300)
    page.screenshot(path=str(DOCS / f"{name}.png"))
