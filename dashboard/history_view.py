"""The parts of the History page (and of the history section of the Extract page): filters
kept in the URL, headline figures, charts, the day's timeline, failures, freshness, coverage."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from core import errors, service
from core.vocabulary import Role, RunStatus, RunTrigger
from dashboard import auth, charts, display, navigation, readers, state

FAILURE_LOGS_SHOWN = 8
TIMELINE_RUNS = 2000  # the most runs one day's timeline shows
CACHE_SECONDS = 30
# query parameter -> the widget key that holds it
PARAMS = {"datasource": "history_datasource", "connection": "history_connection",
          "table": "history_table", "extract": "history_extract", "trigger": "history_trigger",
          "status": "history_status"}


@st.cache_data(ttl=CACHE_SECONDS, show_spinner="Reading the run history…")
def _cached(name: str, query: dict[str, Any], extra: dict[str, Any], stamp: str | None) -> Any:
    del stamp  # part of the cache key only: a queued or finished run reads afresh
    with state.session() as s:
        return getattr(service, name)(session=s, query=service.HistoryQuery(**query), **extra)


def forget() -> None:
    """Drop the cached aggregates (a run just finished: the charts should show it)."""
    _cached.clear()


def _read(name: str, query: service.HistoryQuery, **extra: Any) -> Any:
    """A history aggregate from core, cached for a short while per filter combination (a
    widget on the page reruns it), and read afresh as soon as a run is queued or changes
    status (so a run that just finished shows at once)."""
    stamp, _ = state.attempt(service.runs_stamp)
    try:
        return _cached(name, asdict(query), extra, stamp)
    except errors.ExtractsError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


@st.cache_data(ttl=30, show_spinner=False)
def _extract_titles() -> dict[int, str]:
    with state.session() as s:
        return service.extract_titles(session=s)


@st.cache_data(ttl=30, show_spinner=False)
def _datasources() -> list[str]:
    with state.session() as s:
        return service.connection_datasources(session=s)


def _parse_date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _from_url(key: str, raw: str | None, options: list[Any]) -> None:
    """Give a widget its value from the URL the first time the page runs in a session."""
    if key in st.session_state:
        return
    value: Any = int(raw) if raw is not None and raw.isdigit() else raw
    st.session_state[key] = value if value in options else None


def _select(label: str, param: str, options: list[Any], names: dict[Any, str] | None = None
            ) -> Any:
    key = PARAMS[param]
    _from_url(key, st.query_params.get(param), options)
    return st.selectbox(label, [None, *options], key=key, placeholder="All",
                        format_func=lambda v: "All" if v is None else (names or {}).get(v, v))


def filters(timezone: str, now: datetime | None = None) -> service.HistoryQuery:
    """The filters, read from and written back to the URL's query parameters."""
    today = (now or state.now()).astimezone(ZoneInfo(timezone)).date()
    if "history_dates" not in st.session_state:
        latest = today + timedelta(days=1)  # the widget's max_value
        start = min(_parse_date(st.query_params.get("from")) or today - timedelta(days=29),
                    latest)
        end = min(_parse_date(st.query_params.get("to")) or today, latest)
        st.session_state["history_dates"] = (start, max(start, end))
    connections = readers.connection_titles()
    tables = readers.data_table_titles()
    extracts = _extract_titles()
    # Two rows, so that each box is wide enough for what it holds (titles, a date range).
    first, second = st.columns([1.4, 1, 1, 1.4]), st.columns([2.4, 1, 1])
    with first[0]:
        picked = st.date_input("Dates", key="history_dates", max_value=today + timedelta(days=1),
                               help=f"Runs queued on these days ({timezone}).")
    with first[1]:
        datasource = _select("Datasource", "datasource", _datasources())
    with first[2]:
        connection = _select("Connection", "connection", list(connections), connections)
    with first[3]:
        table = _select("Data table", "table", list(tables), tables)
    with second[0]:
        extract = _select("Extract", "extract", list(extracts), extracts)
    with second[1]:
        trigger = _select("Trigger", "trigger", list(RunTrigger))
    with second[2]:
        status = _select("Status", "status", list(RunStatus))
    dates = tuple(picked) if isinstance(picked, tuple | list) else (picked,)
    start = dates[0] if dates and isinstance(dates[0], date) else today - timedelta(days=29)
    end = dates[1] if len(dates) > 1 and isinstance(dates[1], date) else start
    query = service.HistoryQuery(
        date_from=start, date_to=end, timezone=timezone, datasource=datasource,
        connection_id=connection, data_table_id=table, extract_id=extract, trigger=trigger,
        status=status)
    values = {"datasource": datasource, "connection": connection, "table": table,
              "extract": extract, "trigger": trigger, "status": status}
    url = {"from": start.isoformat(), "to": end.isoformat(),
           **{k: str(v) for k, v in values.items() if v is not None}}
    for name in ("day", "coverage"):
        if name in st.query_params:
            url[name] = st.query_params[name]
    if dict(st.query_params) != url:
        st.query_params.from_dict(url)
    return query


def _value(figure: service.Headline, value: float | None) -> str:
    if value is None:
        return "—"
    if figure.unit == "percent":
        return f"{value * 100:.1f}%"
    if figure.unit == "seconds":
        return display.duration(value) or "0 s"
    return f"{value:,.0f}"


def _delta(figure: service.Headline) -> str | None:
    change = figure.change
    if change is None:
        return None
    if not change:
        return "no change"
    if figure.unit == "percent":
        return f"{change * 100:+.1f} pp"
    if figure.unit == "seconds":
        return f"{change:+.1f} s"
    return f"{change:+,.0f}"


def headline(query: service.HistoryQuery) -> None:
    """The headline figures with their change against the previous period of the same length."""
    figures = _read("headline", query)
    if figures is None:
        return
    before = query.previous()
    per_row = 4
    columns = [c for _ in range(0, len(figures), per_row) for c in st.columns(per_row)]
    for column, figure in zip(columns, figures, strict=False):
        with column:
            # Green for a good change, red for a bad one, grey for none ("+0" is no news).
            colour = ("off" if figure.higher_is_better is None or not figure.change
                      else "normal" if figure.higher_is_better else "inverse")
            st.metric(figure.label, _value(figure, figure.value), delta=_delta(figure),
                      delta_color=colour, border=True,  # type: ignore[arg-type]
                      help=f"Previous period ({before.date_from} → {before.date_to}): "
                           f"{_value(figure, figure.previous)}")


def charts_grid(query: service.HistoryQuery, *, key: str = "history") -> None:
    """Runs by status, success rate, rows by data table (with anomalies) and durations."""
    daily = _read("daily_runs", query)
    durations = _read("daily_durations", query)
    rows = _read("daily_rows_by_table", query)
    anomalies = _read("volume_anomalies", query)
    if daily is None or durations is None or rows is None:
        return
    left, right = st.columns(2)
    left.plotly_chart(charts.runs_by_status(daily), key=f"{key}_runs_chart")
    right.plotly_chart(charts.success_rate(daily), key=f"{key}_success_chart")
    left.plotly_chart(charts.rows_by_table(rows, query.days, anomalies),
                      key=f"{key}_rows_chart")
    right.plotly_chart(charts.durations(durations), key=f"{key}_duration_chart")
    if anomalies is not None and not anomalies.empty:
        anomalies_table(anomalies, query.timezone, key=key)


def anomalies_table(anomalies: pd.DataFrame, timezone: str, *, key: str = "history") -> None:
    """The flagged runs, each with its rows per day against the trailing median."""
    st.markdown(f"**Volume anomalies** ({len(anomalies)}): rows per day below half or above "
                "twice the median of the extract's previous 14 successful runs")
    st.dataframe(pd.DataFrame({
        "run": anomalies["run_id"], "extract": anomalies["extract"],
        "queued": [display.local_time(t, timezone) for t in anomalies["queued_at"]],
        "rows": anomalies["rows"], "rows/day": anomalies["rows_per_day"].round(1),
        "median rows/day": anomalies["median_rows_per_day"].round(1),
        "ratio": [f"{'▼' if d == 'low' else '▲'} {r:.2f}×"
                  for r, d in zip(anomalies["ratio"], anomalies["direction"], strict=True)]}),
        hide_index=True, key=f"{key}_anomalies")


def timeline(query: service.HistoryQuery, now: datetime | None = None) -> None:
    """One day's runs (the range's last by default): queue wait and run time per extract."""
    key = "history_day"
    if key not in st.session_state:
        st.session_state[key] = _parse_date(st.query_params.get("day")) or query.date_to
    day = st.date_input("Day", key=key, help="The runs queued on this day.")
    if not isinstance(day, date):
        return
    st.query_params["day"] = day.isoformat()
    runs = _read("day_timeline", query, day=day, limit=TIMELINE_RUNS)
    if runs is None:
        return
    if runs.empty:
        st.caption(f"No runs were queued on {day}.")
        return
    local_now = (now or state.now()).astimezone(query.tz)
    st.plotly_chart(charts.timeline(runs, local_now), key="history_timeline_chart")
    if len(runs) >= TIMELINE_RUNS:
        st.caption(f"Showing the first {TIMELINE_RUNS:,} runs of the day.")


def failures(query: service.HistoryQuery) -> None:
    """Failures grouped by message; each opens the log of its latest run."""
    groups = _read("failure_groups", query)
    if groups is None:
        return
    if groups.empty:
        st.caption("No failed runs in this period.")
        return
    tz = query.timezone
    st.dataframe(pd.DataFrame({
        "error": groups["error"], "failures": groups["failures"],
        "first seen": [display.local_time(t, tz) for t in groups["first_seen"]],
        "last seen": [display.local_time(t, tz) for t in groups["last_seen"]],
        "extracts": groups["extracts"],
        "affected": [", ".join(t[:5]) + (" …" if len(t) > 5 else "")
                     for t in groups["extract_titles"]],
        "latest run": groups["latest_run_id"]}), hide_index=True, key="history_failures")
    for group in groups.head(FAILURE_LOGS_SHOWN).to_dict("records"):
        label = f"{group['failures']}× {str(group['error'])[:90] or '(no message)'}"
        with st.expander(label, icon=":material/error:"):
            _failure_log(int(group["latest_run_id"]), tz)


def _failure_log(run_id: int, timezone: str) -> None:
    run = state.call(service.get_run, run_id=run_id)
    if run is None:
        return
    st.caption(f"Latest: run {run.id} of extract {run.extract_id}, "
               f"{display.window(run.date_from, run.date_to)}, queued "
               f"{display.local_time(run.queued_at, timezone)}")
    st.code(display.log_text(run.log, timezone) or run.error or "No log lines.", language=None)
    st.page_link(navigation.EXTRACT, label="Open the extract", icon=":material/open_in_new:",
                 query_params={"id": str(run.extract_id)})


def freshness(query: service.HistoryQuery, now: datetime | None = None) -> dict[int, str]:
    """Each extract's newest loaded date and the age of its last successful sync, worst first.
    Returns the extracts shown (id -> title), worst first."""
    frame = _read("freshness", query)
    if frame is None:
        return {}
    if frame.empty:
        st.caption("No extracts match these filters.")
        return {}
    now = now or state.now()
    ids = [int(i) for i in frame["extract_id"]]
    failing = state.call(service.failing_since, extract_ids=ids) or {}
    st.dataframe(pd.DataFrame({
        "extract": frame["extract"],
        "status": [display.status_label(s) for s in frame["status"]],
        "failing since": [
            f"{display.local_time(failing[i].since, query.timezone)} "
            f"({failing[i].count} in a row)" if i in failing else "" for i in ids],
        "stale": ["stale" if s else "" for s in frame["stale"]],
        "newest date loaded": frame["newest_date"],
        "last successful sync": [display.relative_time(t, now) if not pd.isna(t) else "never"
                                 for t in frame["last_success"]],
        "age (h)": [display.number(v, 1) for v in frame["age_hours"]],
        "schedule every (h)": [display.number(v, 2) for v in frame["interval_hours"]]}),
        hide_index=True, key="history_freshness")
    st.caption("Stale: nothing succeeded within twice the schedule's interval (paused "
               "extracts are never stale). Worst first.")
    return {int(i): str(t) for i, t in zip(frame["extract_id"], frame["extract"], strict=True)}


def coverage(extract_ids: dict[int, str], *, key: str = "history",
             default: int | None = None) -> None:
    """The coverage calendar of one extract, with a Fill gaps button."""
    if not extract_ids:
        return
    options = list(extract_ids)
    picker = f"{key}_coverage"
    if len(options) > 1:
        if picker not in st.session_state:
            raw = st.query_params.get("coverage")
            wanted = int(raw) if raw and raw.isdigit() else default
            st.session_state[picker] = wanted if wanted in options else options[0]
        extract_id = st.selectbox("Extract", options, key=picker,
                                  format_func=lambda i: extract_ids.get(i, str(i)))
        if key == "history":
            st.query_params["coverage"] = str(extract_id)
    else:
        extract_id = options[0]
    found = state.call(service.coverage, extract_id=extract_id)
    if found is None:
        st.caption("This extract's template has no date field: each run loads everything.")
        return
    if found.start is None:
        st.caption("Nothing loaded yet, and no historical start date is set.")
        return
    st.plotly_chart(charts.coverage_calendar(found), key=f"{key}_coverage_chart")
    notice = f"{key}_gaps_notice"
    if notice in st.session_state:
        st.success(st.session_state.pop(notice), icon=":material/check:")
    if not found.gaps:
        st.caption(f"Every date from {found.start} to {found.today} is loaded or loading.")
        return
    st.caption(f"{found.missing_days} missing day(s) in {len(found.gaps)} gap(s) between "
               f"{found.start} and {found.today}.")
    if st.button("Fill gaps", icon=":material/healing:", key=f"{key}_fill_gaps",
                 **auth.lock(Role.EDITOR, "Filling gaps",
                             help="Queue backfill runs for exactly the missing dates.")):
        runs = state.call(service.fill_gaps, extract_id=extract_id)
        if runs is not None:
            _cached.clear()
            st.session_state[notice] = (f"Queued {len(runs)} backfill run(s) for "
                                        f"{found.missing_days} missing day(s).")
            st.rerun()


def extract_history(extract_id: int, timezone: str, now: datetime | None = None) -> None:
    """The history charts of one extract (last 30 days) and its coverage calendar."""
    query = replace(service.default_query(timezone, now or state.now()), extract_id=extract_id)
    with st.container(border=True):
        st.subheader("History (last 30 days)")
        charts_grid(query, key=f"extract_{extract_id}_history")
        st.markdown("**Coverage**")
        coverage({extract_id: ""}, key=f"extract_{extract_id}")
