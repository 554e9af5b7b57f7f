"""Cached readers for the option lists that filters and forms show (short ttl)."""

from __future__ import annotations

import streamlit as st

from core import service
from dashboard.state import session


@st.cache_data(ttl=30, show_spinner=False)
def connection_titles() -> dict[int, str]:
    """Connection id -> title, for filters."""
    with session() as s:
        return {c.id: c.title for c in service.list_connections(session=s)}


@st.cache_data(ttl=30, show_spinner=False)
def data_table_titles(template_id: int | None = None) -> dict[int, str]:
    """Data table id -> title (of one template if given), for filters and the form."""
    with session() as s:
        return {t.id: t.title
                for t in service.list_data_tables(session=s, template_id=template_id)}


def forget() -> None:
    """Drop the cached option lists after something was created or deleted."""
    connection_titles.clear()
    data_table_titles.clear()
