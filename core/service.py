"""The facade: every read and write that pages, routes and jobs need.

Callers use `from core import service` and `service.create_extracts(session=..., ...)`.
The functions live in core/services/, split by aggregate.
"""

from core.services.catalog import (
    create_connection,
    get_connection,
    get_data_table,
    get_template,
    list_accounts,
    list_connections,
    list_data_tables,
    list_datasources,
    list_templates,
    preview_rows,
    refresh_accounts,
    seed_demo,
    sync_templates,
    test_connection,
)
from core.services.extracts import (
    create_extracts,
    delete_extract,
    get_extract,
    list_extracts,
    patch_extract,
    pause_extract,
    unpause_extract,
    update_extract,
)
from core.services.runs import cancel_run, get_run, list_runs, run_extract

__all__ = [
    "cancel_run",
    "create_connection",
    "create_extracts",
    "delete_extract",
    "get_connection",
    "get_data_table",
    "get_extract",
    "get_run",
    "get_template",
    "list_accounts",
    "list_connections",
    "list_data_tables",
    "list_datasources",
    "list_extracts",
    "list_runs",
    "list_templates",
    "patch_extract",
    "pause_extract",
    "preview_rows",
    "refresh_accounts",
    "run_extract",
    "seed_demo",
    "sync_templates",
    "test_connection",
    "unpause_extract",
    "update_extract",
]
