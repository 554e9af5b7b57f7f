"""Every page of the dashboard, named once: its file, title, icon and help.

Links and page switches use these paths (`st.page_link(navigation.EXTRACT, ...)`); the router
turns the specs into `st.Page`s. Paths are absolute, so they resolve the same whichever script
Streamlit runs as the main one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import streamlit as st

PAGES = Path(__file__).resolve().parent.parent / "pages"

EXTRACTS = str(PAGES / "extracts.py")
NEW_EXTRACT = str(PAGES / "new_extract.py")
EXTRACT = str(PAGES / "extract.py")
EDIT_EXTRACT = str(PAGES / "edit_extract.py")
HISTORY = str(PAGES / "history.py")
CONNECTIONS = str(PAGES / "connections.py")
DATA_TABLES = str(PAGES / "data_tables.py")
SETTINGS = str(PAGES / "settings.py")
AUDIT = str(PAGES / "audit.py")
ALERTS = str(PAGES / "alerts.py")


@dataclass(frozen=True)
class PageSpec:
    """One page as the sidebar lists it (hidden pages are reached by links only)."""

    path: str
    title: str
    icon: str
    help: str
    visibility: Literal["visible", "hidden"] = "visible"


SPECS = (
    PageSpec(EXTRACTS, "Extracts", ":material/table_rows:",
             "Every extract with its status, last sync and next run. Filter, select several "
             "to pause, resume or run them, or open one."),
    PageSpec(NEW_EXTRACT, "New extract", ":material/add_circle:",
             "A guided form: pick a source, accounts, a template and its fields, filters, a "
             "data table and schedules."),
    PageSpec(EXTRACT, "Extract", ":material/description:",
             "One extract: run it for a date window, watch its runs, pause, delete, preview "
             "its rows.", visibility="hidden"),
    PageSpec(EDIT_EXTRACT, "Edit extract", ":material/edit:",
             "The extract's form, pre-filled; saves only what changed.", visibility="hidden"),
    PageSpec(HISTORY, "History", ":material/monitoring:",
             "Run history and health: runs, failures, freshness, coverage and gaps."),
    PageSpec(ALERTS, "Alerts", ":material/notifications:",
             "Open alerts (acknowledge them), the channels alerts go to (webhook, Slack, "
             "email; Send test), the rules that route them, and the delivery log."),
    PageSpec(CONNECTIONS, "Connections", ":material/cable:",
             "Connections to datasources with their accounts; add one, test it."),
    PageSpec(DATA_TABLES, "Data tables", ":material/storage:",
             "The warehouse tables extracts write to: columns, rows, a preview and a CSV "
             "download."),
    PageSpec(SETTINGS, "Settings", ":material/settings:",
             "Keys for the REST API: create one (its secret is shown once), see when each was "
             "last used, revoke one. Admins also give people their roles."),
    PageSpec(AUDIT, "Audit log", ":material/policy:",
             "Who changed what and when: every change to extracts, connections, keys and "
             "users, and every run or cancel someone asked for."),
)


def pages() -> list[st.Page]:
    """The `st.Page`s of every spec, the extracts list first and the default."""
    return [st.Page(spec.path, title=spec.title, icon=spec.icon, help=spec.help,
                    visibility=spec.visibility, default=spec.path == EXTRACTS)
            for spec in SPECS]
