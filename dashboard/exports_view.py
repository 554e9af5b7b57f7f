"""Exports on the page: Export CSV / Parquet buttons, and each export of this data table or run
with its progress, then a download link; redrawn every second while one is being written."""

from __future__ import annotations

import streamlit as st

from core import service
from dashboard import display, downloads, state

REFRESH_SECONDS = 1
SHOWN = 3
FORMATS = {"csv": "CSV", "parquet": "Parquet"}


def panel(*, key: str, data_table_id: int | None = None, run_id: int | None = None,
          disabled: bool = False) -> None:
    """The export buttons and the latest exports of a data table (whole) or of one run."""
    with st.container(horizontal=True):
        for fmt, label in FORMATS.items():
            if st.button(f"Export {label}", icon=":material/download:", disabled=disabled,
                         key=f"{key}_export_{fmt}",
                         help="Written in the background, chunk by chunk; the download link "
                              "appears here when it is ready."):
                started = state.call(service.start_export, data_table_id=data_table_id,
                                     run_id=run_id, format=fmt)
                if started is not None:
                    st.rerun()  # draw the progress, refreshing
    exports = state.call(service.list_exports, data_table_id=data_table_id,
                         run_id=run_id) or []
    running = any(e.state == "running" for e in exports[:SHOWN])
    st.fragment(run_every=REFRESH_SECONDS if running else None)(_exports)(
        data_table_id, run_id, key, running)


def _exports(data_table_id: int | None, run_id: int | None, key: str,
             was_running: bool) -> None:
    exports = (state.call(service.list_exports, data_table_id=data_table_id,
                          run_id=run_id) or [])[:SHOWN]
    if was_running and not any(e.state == "running" for e in exports):
        st.rerun()  # the last one finished: stop refreshing
    with st.container(key=f"{key}_exports"):
        for export in exports:
            show(export, key)


def show(export: service.Export, key: str) -> None:
    """One export: progress while written, a download link once done, the reason if failed."""
    if export.state == "running":
        text = (f"Writing {export.file_name}: {export.rows_done:,} of {export.rows_total:,} "
                "rows" if export.rows_total else f"Writing {export.file_name}: counting rows…")
        st.progress(export.progress, text=text)
    elif export.state == "done":
        st.link_button(f"Download {export.file_name} ({export.rows_total:,} rows)",
                       downloads.url(export), icon=":material/file_download:",
                       key=f"{key}_download_{export.token}")
    else:
        st.error(f"The export {display.text(export.file_name)} failed: "
                 f"{display.text(export.error)}. Start it again; if "
                 "it fails again, the server log has the details.", icon=":material/error:")
