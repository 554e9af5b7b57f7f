"""The Data tables page's parts: one card per table, with a preview and exports (CSV,
Parquet) written in the background."""

from __future__ import annotations

import streamlit as st

from core import schemas, service
from dashboard import display, exports_view, navigation, state

PREVIEW_ROWS = 100


def card(table: schemas.DataTableOut) -> None:
    """A data table: its template, rows, extracts, columns, a preview and its exports."""
    with st.container(border=True, key=f"data_tables_card_{table.id}"):
        st.subheader(display.text(table.title))
        st.caption(f"{table.template_title} · {table.row_count:,} rows · warehouse table "
                   f"`{table.table_name}`")
        titles = state.call(service.extract_titles, extract_ids=table.extract_ids) or {}
        with st.container(horizontal=True):
            for extract_id in table.extract_ids:
                st.page_link(navigation.EXTRACT,
                             label=titles.get(extract_id, f"Extract {extract_id}"),
                             icon=":material/description:",
                             query_params={"id": str(extract_id)})
            if not table.extract_ids:
                st.caption("No extract writes to it any more.")
        if table.columns:
            st.caption("Columns: " + ", ".join(f"{name} ({kind})"
                                                for name, kind in table.columns.items()))
        show = st.toggle("Preview", key=f"data_tables_preview_{table.id}")
        if show:
            rows = state.call(service.preview_rows, data_table_id=table.id,
                              limit=PREVIEW_ROWS)
            if rows is not None:
                st.dataframe(display.local_rows(rows, state.timezone()), hide_index=True,
                             alt=f"Latest rows of {table.title}")
        exports_view.panel(key=f"data_tables_{table.id}", data_table_id=table.id,
                           disabled=table.row_count == 0)
