"""The facade: every read and write that pages, routes and jobs need.

Callers use `from core import service` and `service.create_extracts(session=..., ...)`.
The functions live in core/services/, split by aggregate. The read models and types those
functions take and return (HistoryQuery, Headline, Coverage, ...), opening the database and
starting the embedded worker are here too, so that the dashboard needs no other way in.
"""

from core.audit import act_as
from core.clock import utcnow
from core.db import Database, open_database
from core.services.apikeys import (
    authenticate,
    create_api_key,
    issue_token,
    list_api_keys,
    revoke_api_key,
)
from core.services.audit_log import list_audit_events
from core.services.catalog import (
    connection_datasources,
    create_connection,
    data_table_csv,
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
from core.services.connections import (
    delete_connection,
    refresh_connection,
    update_connection,
)
from core.services.extracts import (
    create_extracts,
    delete_extract,
    extract_titles,
    get_extract,
    list_extracts,
    patch_extract,
    pause_extract,
    unpause_extract,
    update_extract,
)
from core.services.history import (
    Anomaly,
    Coverage,
    Headline,
    HistoryQuery,
    coverage,
    daily_durations,
    daily_rows_by_table,
    daily_runs,
    day_timeline,
    default_query,
    failure_groups,
    fill_gaps,
    freshness,
    headline,
    run_anomalies,
    volume_anomalies,
)
from core.services.query_templates import add_query_template, list_query_templates
from core.services.runs import (
    cancel_run,
    get_run,
    last_run_rows,
    list_runs,
    run_extract,
    run_window,
)
from core.services.users import LOCAL_USER, actor_for, list_users, set_user_role, sign_in
from core.services.workers import ExecutorState, executor_state, schedule_firer
from core.worker import Worker, start_embedded, stop_embedded

__all__ = [
    "LOCAL_USER",
    "Anomaly",
    "Coverage",
    "Database",
    "ExecutorState",
    "Headline",
    "HistoryQuery",
    "Worker",
    "act_as",
    "actor_for",
    "add_query_template",
    "authenticate",
    "cancel_run",
    "connection_datasources",
    "coverage",
    "create_api_key",
    "create_connection",
    "create_extracts",
    "daily_durations",
    "daily_rows_by_table",
    "daily_runs",
    "data_table_csv",
    "day_timeline",
    "default_query",
    "delete_connection",
    "delete_extract",
    "executor_state",
    "extract_titles",
    "failure_groups",
    "fill_gaps",
    "freshness",
    "get_connection",
    "get_data_table",
    "get_extract",
    "get_run",
    "get_template",
    "headline",
    "issue_token",
    "last_run_rows",
    "list_accounts",
    "list_api_keys",
    "list_audit_events",
    "list_connections",
    "list_data_tables",
    "list_datasources",
    "list_extracts",
    "list_query_templates",
    "list_runs",
    "list_templates",
    "list_users",
    "open_database",
    "patch_extract",
    "pause_extract",
    "preview_rows",
    "refresh_accounts",
    "refresh_connection",
    "revoke_api_key",
    "run_anomalies",
    "run_extract",
    "run_window",
    "schedule_firer",
    "seed_demo",
    "set_user_role",
    "sign_in",
    "start_embedded",
    "stop_embedded",
    "sync_templates",
    "test_connection",
    "unpause_extract",
    "update_connection",
    "update_extract",
    "utcnow",
    "volume_anomalies",
]
