"""Run history for team leads: daily aggregates, headline figures, freshness, coverage, gaps
and volume anomalies.

query.py says which runs a history shows (and holds the SQL every aggregate shares); daily.py
the per-day series, one day's timeline and the failures; health.py freshness and the headline
figures; gaps.py the coverage calendar and filling its gaps; anomalies.py volume anomalies.
"""

from core.services.history.anomalies import (
    ANOMALY_COLUMNS,
    TRAILING_RUNS,
    Anomaly,
    run_anomalies,
    volume_anomalies,
)
from core.services.history.daily import (
    TIMELINE_LIMIT,
    daily_durations,
    daily_rows_by_table,
    daily_runs,
    day_timeline,
    failure_groups,
)
from core.services.history.gaps import Coverage, coverage, fill_gaps
from core.services.history.health import Headline, freshness, headline
from core.services.history.query import (
    HistoryQuery,
    default_query,
    local_day,
    local_midnight,
    offset_segments,
    run_filters,
)

__all__ = [
    "ANOMALY_COLUMNS",
    "TIMELINE_LIMIT",
    "TRAILING_RUNS",
    "Anomaly",
    "Coverage",
    "Headline",
    "HistoryQuery",
    "coverage",
    "daily_durations",
    "daily_rows_by_table",
    "daily_runs",
    "day_timeline",
    "default_query",
    "failure_groups",
    "fill_gaps",
    "freshness",
    "headline",
    "local_day",
    "local_midnight",
    "offset_segments",
    "run_anomalies",
    "run_filters",
    "volume_anomalies",
]
