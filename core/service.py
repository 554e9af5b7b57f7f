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
from core.services.history import (
    coverage,
    daily_durations,
    daily_rows_by_table,
    daily_runs,
    day_timeline,
    failure_groups,
    fill_gaps,
    freshness,
    headline,
    run_anomalies,
    volume_anomalies,
)
from core.services.query_templates import add_query_template, list_query_templates
from core.services.runs import cancel_run, get_run, list_runs, run_extract

__all__ = [
    "add_query_template",
    "cancel_run",
    "coverage",
    "create_connection",
    "create_extracts",
    "daily_durations",
    "daily_rows_by_table",
    "daily_runs",
    "day_timeline",
    "delete_extract",
    "failure_groups",
    "fill_gaps",
    "freshness",
    "get_connection",
    "get_data_table",
    "get_extract",
    "get_run",
    "get_template",
    "headline",
    "list_accounts",
    "list_connections",
    "list_data_tables",
    "list_datasources",
    "list_extracts",
    "list_query_templates",
    "list_runs",
    "list_templates",
    "patch_extract",
    "pause_extract",
    "preview_rows",
    "refresh_accounts",
    "run_anomalies",
    "run_extract",
    "seed_demo",
    "sync_templates",
    "test_connection",
    "unpause_extract",
    "update_extract",
    "volume_anomalies",
]
