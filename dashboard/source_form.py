"""The Connections page's forms for a source installed from PyPI (airbyte, singer): the
package and version, Install (pip's progress shown as it goes, its error when it fails),
then the source's own settings as fields; an edit shows them as fields again."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from core import schemas, service
from core.vocabulary import Role
from dashboard import auth, state, widgets

PROGRAM_DATASOURCES = ("airbyte", "singer")


Create = Callable[[dict[str, Any], widgets.ProblemSlots,
                   Callable[[schemas.ConnectionOut], str]], None]


def add_form(name: str, create: Create) -> None:
    """Install a package, then fill its settings and add the connection with `create`."""
    key = f"connections_{name}"
    example = "airbyte-source-faker" if name == "airbyte" else "tap-jsonl"
    package = st.text_input("PyPI package *", key=f"{key}_package",
                            placeholder=f"e.g. {example}").strip()
    version = st.text_input("Version", key=f"{key}_version",
                            placeholder="empty: the newest, when first installed").strip()
    if st.button("Install and load its settings", icon=":material/download:",
                 key=f"{key}_install", **auth.lock(Role.ADMIN, "Installing a source")):
        if package:
            install(name, package, version, key)
        else:
            st.warning(f"Name the package first, e.g. {example}.", icon=":material/info:")
    loaded = st.session_state.get(f"{key}_spec")
    if not loaded or (loaded["package"], loaded["version"]) != (package, version):
        st.caption("Install the package to see its settings.")
        return
    slots = widgets.ProblemSlots("connections", "No connection was added")
    with st.form(f"{key}_form", enter_to_submit=False):
        title = st.text_input("Title", key=f"{key}_title", placeholder=f"e.g. {package}")
        slots.here("title")
        settings = widgets.settings_inputs(loaded["schema"], key=f"{key}_settings")
        slots.here("config")
        date_fields = st.text_input(
            "Date fields", key=f"{key}_date_fields",
            help="Date field per stream where the cursor is not the one, e.g. "
                 "users=created_at.")
        limit = st.number_input("Most runs at once", 1, 50, 2, key=f"{key}_limit")
        submitted = st.form_submit_button("Add connection", type="primary",
                                          icon=":material/add:")
    if not submitted:
        return
    config: dict[str, Any] = {"package": package, "source_config": settings}
    if version:
        config["version"] = version
    if date_fields.strip():
        config["date_fields"] = date_fields.strip()
    create({"datasource": name, "title": title, "config": config,
            "max_concurrent_runs": limit}, slots,
           lambda c: f"Added {c.title!r}: {package} installed, {len(c.accounts)} account(s).")


def edit_inputs(connection: schemas.ConnectionOut, schema: Mapping[str, Any], key: str
                ) -> dict[str, Any]:
    """Inside a connection's edit form: its settings, the source's own ones each an input
    when the package is installed here (from its spec), else as JSON text."""
    config = connection.config
    own, _ = state.attempt(service.installed_source_settings,
                           datasource=connection.datasource,
                           package=str(config.get("package") or ""),
                           version=config.get("version") or None)
    if own is None:
        return widgets.settings_inputs(schema, key=key, values=config)
    outer = {**schema, "properties": {name: field for name, field in
                                      schema.get("properties", {}).items()
                                      if name != "source_config"}}
    values = widgets.settings_inputs(outer, key=key, values=config)
    st.caption(f"Settings of {config.get('package')}")
    values["source_config"] = widgets.settings_inputs(
        own, key=f"{key}_source", values=config.get("source_config") or {})
    return values


def install(name: str, package: str, version: str, key: str) -> None:
    """Install with pip's lines shown as they come; keep the settings' schema."""
    with st.status(f"Installing {package}…", expanded=True) as status:
        line = st.empty()

        def progress(text: str) -> None:
            line.caption(text[-300:])

        schema, error = state.attempt(service.source_settings, datasource=name,
                                      package=package, version=version or None,
                                      progress=progress)
        if error is not None:
            status.update(label=f"Installing {package} failed", state="error")
            st.error(str(error), icon=":material/error:")
            return
        status.update(label=f"{package} is installed", state="complete", expanded=False)
    st.session_state[f"{key}_spec"] = {"package": package, "version": version,
                                       "schema": schema}
