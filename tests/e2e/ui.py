"""How a person works Streamlit's widgets, in Playwright terms, plus the docs screenshots.

Every change to a widget makes Streamlit rerun the script; each helper waits for that rerun to
end, so the next step never acts on a widget that is about to be replaced.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

from playwright.sync_api import Locator, Page, expect

DOCS = Path(__file__).resolve().parents[2] / "docs"
# Long enough for the browser to send the change and the server to start the rerun.
SETTLE_MS = 300


def wait_idle(page: Page, timeout: float = 30_000) -> None:
    """Wait until the script is not running (after giving a just-made change time to land)."""
    page.wait_for_timeout(SETTLE_MS)
    expect(page.get_by_test_id("stApp")).to_have_attribute(
        "data-test-script-state", "notRunning", timeout=timeout)


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the selectbox or multiselect labelled `label`."""
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def set_checkbox(page: Page, label: str, checked: bool, role: Literal["checkbox", "switch"]
                 = "checkbox") -> None:
    """Tick or untick the checkbox (or st.toggle, a switch) labelled `label`."""
    box = page.get_by_role(role, name=label, exact=True)
    if box.is_checked() != checked:
        # The input itself is visually hidden; a person clicks its label.
        page.locator("label").filter(has=box).click()
        wait_idle(page)
    expect(box).to_be_checked(checked=checked)


def fill(page: Page, field: Locator, text: str) -> None:
    """Type `text` into a text, number or date input and commit it with Enter."""
    field.fill(text)
    field.press("Enter")
    wait_idle(page)


def fill_date(page: Page, label: str, day: date) -> None:
    """Type `day` into the date input labelled `label`, segment by segment, and commit it."""
    # Streamlit's date input is a row of year / month / day spin buttons; typing the digits
    # into the first one moves on to the next, as it does for a person.
    page.get_by_role("spinbutton", name=f"year, {label}", exact=True).click()
    page.keyboard.type(day.strftime("%Y%m%d"))
    page.keyboard.press("Enter")
    wait_idle(page)
    expect(page.get_by_label(label, exact=True)).to_have_text(day.strftime("%Y/%m/%d"))


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
