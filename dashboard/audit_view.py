"""The Audit page's parts: filters kept in the URL (who, what, which, days) and the changes."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from core import schemas
from dashboard import display

KINDS = ("extract", "schedule", "run", "data table", "connection", "api key", "user")
PAGE_SIZE = 200
COLUMNS: dict[str, Any] = {
    "at": "When", "actor": "Who", "action": "Did", "object": "To",
    "changes": st.column_config.TextColumn("Changes", help="Each field before → after; "
                                           "secrets only as (changed)", width="large"),
}


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def filters() -> dict[str, Any]:
    """The filters, read from and written back to the URL (a link shares the same view)."""
    params = st.query_params
    who_col, kind_col, id_col, from_col, to_col = st.columns([3, 2, 1, 2, 2])
    actor = who_col.text_input("Who", value=params.get("who", ""), key="audit_who",
                               placeholder="part of an email or key", max_chars=400)
    kinds = ["All", *KINDS]
    kind = kind_col.selectbox("What", kinds, key="audit_kind",
                              index=kinds.index(params.get("what", "All"))
                              if params.get("what", "All") in kinds else 0)
    raw_id = params.get("id", "")
    object_id = id_col.number_input("Id", min_value=1, max_value=2**31 - 1, step=1,
                                    value=int(raw_id) if raw_id.isdigit() and int(raw_id) >= 1
                                    else None, key="audit_id", placeholder="any")
    date_from = from_col.date_input("From", value=_day(params.get("from")), key="audit_from",
                                    format="YYYY-MM-DD")
    date_to = to_col.date_input("To", value=_day(params.get("to")), key="audit_to",
                                format="YYYY-MM-DD")
    chosen = {"who": actor.strip(), "what": "" if kind == "All" else kind,
              "id": str(object_id) if object_id else "",
              "from": date_from.isoformat() if isinstance(date_from, date) else "",
              "to": date_to.isoformat() if isinstance(date_to, date) else ""}
    url = {k: v for k, v in chosen.items() if v}
    if dict(params) != url:
        params.from_dict(url)
    return {"actor": url.get("who"), "object_type": url.get("what"),
            "object_id": int(url["id"]) if "id" in url else None,
            "date_from": _day(url.get("from")), "date_to": _day(url.get("to"))}


def _changes(changes: dict[str, Any]) -> str:
    parts = []
    for name, change in changes.items():
        after = display.plain(change.get("after"))
        if "before" in change:
            parts.append(f"{name}: {display.plain(change['before'])} → {after}")
        else:
            parts.append(f"{name}: {after}")
    return "; ".join(parts)


def frame(events: list[schemas.AuditEventOut], timezone: str) -> pd.DataFrame:
    """One row per change, newest first, times in the chosen timezone."""
    return pd.DataFrame(
        [{"at": display.local_time(e.at, timezone), "actor": e.actor, "action": e.action,
          "object": f"{e.object_type} {e.object_id or ''} {e.object_title}".strip(),
          "changes": _changes(e.changes)} for e in events],
        columns=list(COLUMNS))
