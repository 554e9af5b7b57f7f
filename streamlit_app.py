"""The dashboard's router: page config, the sidebar every page shares, and navigation."""

import streamlit as st

from dashboard import state

st.set_page_config(page_title="Extracts", page_icon=":material/database:", layout="wide")

page = st.navigation([
    st.Page("app_pages/extracts.py", title="Extracts", icon=":material/table_rows:", default=True,
            help="Every extract with its status, last sync and next run. Filter, select "
                 "several to pause, resume or run them, or open one."),
    st.Page("app_pages/new_extract.py", title="New extract", icon=":material/add_circle:",
            help="A guided form: pick a source, accounts, a template and its fields, "
                 "filters, a data table and schedules."),
    st.Page("app_pages/extract.py", title="Extract", icon=":material/description:",
            visibility="hidden",
            help="One extract: run it for a date window, watch its runs, pause, delete, "
                 "preview its rows."),
    st.Page("app_pages/edit_extract.py", title="Edit extract", icon=":material/edit:",
            visibility="hidden",
            help="The extract's form, pre-filled; saves only what changed."),
    st.Page("app_pages/history.py", title="History", icon=":material/monitoring:",
            help="Run history and health: runs, failures, freshness, coverage and gaps."),
    st.Page("app_pages/connections.py", title="Connections", icon=":material/cable:",
            help="Connections to datasources with their accounts; add one, test it."),
    st.Page("app_pages/data_tables.py", title="Data tables", icon=":material/storage:",
            help="The warehouse tables extracts write to: columns, rows, a preview and a "
                 "CSV download."),
    st.Page("app_pages/settings.py", title="Settings", icon=":material/settings:",
            help="Keys for the REST API: create one (its secret is shown once), see when "
                 "each was last used, revoke one."),
])
state.sidebar()
page.run()
