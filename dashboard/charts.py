"""Plotly figure builders for the run history: pure functions of the frames core returns.

One colour scheme everywhere: a run status has the colour `display.RUN_STATUS_COLOURS` names
(the dots of the tables), in the shades below.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from core import service
from core.vocabulary import RunStatus
from dashboard import display

SHADES = display.SHADES
STATUS_COLOURS: dict[str, str] = {s: SHADES[display.RUN_STATUS_COLOURS[s]] for s in RunStatus}
QUEUE_WAIT_COLOUR = "#d5dae0"
ANOMALY_COLOUR = "#7b3fe4"
P50_COLOUR, P95_COLOUR = "#2b7bd6", "#f08c00"
TABLE_COLOURS = ("#2b7bd6", "#1f9d55", "#f08c00", "#7b3fe4", "#d64545", "#17a2b8", "#8d6e63",
                 "#e83e8c", "#6c757d", "#20c997")
COVERAGE_STATES = ("outside", "loaded", "loading", "missing")
COVERAGE_COLOURS = {"outside": "#f1f3f5", "loaded": SHADES["green"], "loading": SHADES["blue"],
                    "missing": SHADES["red"]}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _layout(fig: go.Figure, title: str, x: str, y: str, **extra: Any) -> go.Figure:
    layout: dict[str, Any] = {"hovermode": "x unified", "height": 360,
                              "legend": {"orientation": "h", "y": -0.38, "x": 0,
                                         "traceorder": "normal"},
                              "margin": {"t": 50, "b": 10}}
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, **{**layout, **extra})
    return fig


NO_DATA_COLOUR = "#6c757d"


def no_data(fig: go.Figure, message: str) -> go.Figure:
    """A chart with nothing to draw: its title and `message` in words, no empty axes."""
    fig.add_annotation(text=message, xref="paper", yref="paper", x=0.5, y=0.5,
                       showarrow=False, font={"size": 15, "color": NO_DATA_COLOUR})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(showlegend=False, height=220, plot_bgcolor="white")
    return fig


def is_empty(fig: go.Figure) -> bool:
    """Whether a figure says it has no data (for tests and callers)."""
    return any(a.text and a.font.color == NO_DATA_COLOUR for a in fig.layout.annotations)


def runs_by_status(daily: pd.DataFrame) -> go.Figure:
    """Runs per day, stacked by status."""
    if daily.empty or not daily["runs"].sum():
        return no_data(_layout(go.Figure(), "Runs per day by status", "", ""),
                       "No runs in this period yet")
    fig = go.Figure([
        go.Bar(x=list(daily["day"]), y=list(daily[status]), name=status,
               marker_color=STATUS_COLOURS[status],
               hovertemplate=f"{status}: %{{y}}<extra></extra>")
        for status in RunStatus])
    return _layout(fig, "Runs per day by status", "Day", "Runs", barmode="stack")


def success_rate(daily: pd.DataFrame) -> go.Figure:
    """Succeeded runs as a share of finished ones, per day (gaps where nothing finished)."""
    rates = [None if pd.isna(r) else round(r * 100, 1) for r in daily["success_rate"]]
    if all(r is None for r in rates):
        return no_data(_layout(go.Figure(), "Success rate per day", "", ""),
                       "No finished runs in this period yet")
    detail = [f"{s} of {s + f} finished" for s, f in zip(daily["succeeded"], daily["failed"],
                                                         strict=True)]
    fig = go.Figure(go.Scatter(
        x=list(daily["day"]), y=rates, mode="lines+markers", name="success rate",
        line={"color": STATUS_COLOURS["succeeded"]}, customdata=detail, connectgaps=False,
        hovertemplate="%{y}% (%{customdata})<extra></extra>"))
    fig = _layout(fig, "Success rate per day", "Day", "Succeeded of finished (%)")
    fig.update_yaxes(range=[0, 105])
    return fig


def rows_by_table(rows: pd.DataFrame, days: list[date],
                  anomalies: pd.DataFrame | None = None) -> go.Figure:
    """Rows loaded per day, stacked by data table; volume anomalies as markers on top."""
    tables = sorted(rows["data_table"].unique()) if not rows.empty else []
    if not tables or not rows["rows"].sum():
        return no_data(_layout(go.Figure(), "Rows loaded per day by data table", "", ""),
                       "No rows loaded in this period yet")
    traces: list[go.BaseTraceType] = []
    for n, table in enumerate(tables):
        loaded = rows[rows["data_table"] == table].set_index("day")["rows"]
        traces.append(go.Bar(
            x=days, y=[int(loaded.get(d, 0)) for d in days], name=table,
            marker_color=TABLE_COLOURS[n % len(TABLE_COLOURS)],
            hovertemplate=f"{table}: %{{y:,}} rows<extra></extra>"))
    if anomalies is not None and not anomalies.empty:
        totals = rows.groupby("day")["rows"].sum() if not rows.empty else pd.Series(dtype=int)
        traces.append(go.Scatter(
            x=list(anomalies["day"]),
            y=[int(totals.get(d, 0)) for d in anomalies["day"]],
            mode="markers", name="volume anomaly",
            marker={"color": ANOMALY_COLOUR, "size": 12, "symbol": [
                "triangle-down" if a == "low" else "triangle-up"
                for a in anomalies["direction"]]},
            customdata=[[r["extract"], r["run_id"], r["rows_per_day"], r["median_rows_per_day"]]
                        for r in _records(anomalies)],
            hovertemplate="%{customdata[0]} run %{customdata[1]}: %{customdata[2]:,.0f} rows/"
                          "day vs median %{customdata[3]:,.0f}<extra>anomaly</extra>"))
    fig = go.Figure(traces)
    return _layout(fig, "Rows loaded per day by data table", "Day", "Rows", barmode="stack")


def durations(daily: pd.DataFrame) -> go.Figure:
    """Median and p95 run duration per day."""
    def series(column: str) -> list[float | None]:
        return [None if pd.isna(v) else float(v) for v in daily[column]]

    if daily.empty or all(v is None for v in series("p50")):
        return no_data(_layout(go.Figure(), "Run duration per day", "", ""),
                       "No finished runs in this period yet")

    fig = go.Figure([
        go.Scatter(x=list(daily["day"]), y=series("p50"), name="p50 (median)", mode="lines+markers",
                   line={"color": P50_COLOUR}, customdata=list(daily["runs"]),
                   hovertemplate="p50 %{y:.1f} s of %{customdata} runs<extra></extra>"),
        go.Scatter(x=list(daily["day"]), y=series("p95"), name="p95", mode="lines+markers",
                   line={"color": P95_COLOUR, "dash": "dot"},
                   hovertemplate="p95 %{y:.1f} s<extra></extra>"),
    ])
    return _layout(fig, "Run duration per day", "Day", "Seconds")


def peak_concurrency(runs: pd.DataFrame, now: datetime) -> int:
    """The most runs that were running at the same moment."""
    events: list[tuple[datetime, int]] = []
    for r in _records(runs):
        if _missing(r["started_at"]):
            continue
        events.append((r["started_at"], 1))
        events.append((now if _missing(r["finished_at"]) else r["finished_at"], -1))
    running = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        running += step
        peak = max(peak, running)
    return peak


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def _lane(run: dict[str, Any]) -> str:
    """One timeline row per extract (titles need not be unique)."""
    return f"{run['extract']} #{run['extract_id']}"


def _naive(moment: datetime) -> datetime:
    """Wall time (plotly draws the clock time it is given, whatever the offset)."""
    return moment.replace(tzinfo=None)


def timeline(runs: pd.DataFrame, now: datetime) -> go.Figure:
    """One day's runs as bars per extract: queue wait (grey) then run time (status colour).
    Overlapping bars are runs that ran at once. `now` (in the same timezone) ends the bars of
    runs still queued or running."""
    lanes = list(dict.fromkeys(_lane(r) for r in _records(runs)))
    wait_x: list[float] = []
    wait_base: list[datetime] = []
    wait_y: list[str] = []
    wait_hover: list[str] = []
    run_x: dict[str, list[float]] = {s: [] for s in RunStatus}
    run_base: dict[str, list[datetime]] = {s: [] for s in RunStatus}
    run_y: dict[str, list[str]] = {s: [] for s in RunStatus}
    run_hover: dict[str, list[str]] = {s: [] for s in RunStatus}
    for r in _records(runs):
        queued: datetime = r["queued_at"]
        started: datetime | None = None if _missing(r["started_at"]) else r["started_at"]
        finished: datetime | None = None if _missing(r["finished_at"]) else r["finished_at"]
        wait_end = started or now
        wait_x.append((wait_end - queued).total_seconds() * 1000)
        wait_base.append(_naive(queued))
        wait_y.append(_lane(r))
        wait_hover.append(f"run {r['run_id']} ({r['trigger']}) waited "
                          f"{display.duration((wait_end - queued).total_seconds())}")
        if started is not None:
            status = r["status"]
            end = finished or now
            run_x[status].append((end - started).total_seconds() * 1000)
            run_base[status].append(_naive(started))
            run_y[status].append(_lane(r))
            rows = "" if _missing(r["rows"]) else f", {int(r['rows']):,} rows"
            error = f" — {r['error'][:80]}" if r["error"] else ""
            run_hover[status].append(
                f"run {r['run_id']} {status}: "
                f"{display.duration((end - started).total_seconds())}{rows}{error}")
    traces = [go.Bar(x=wait_x, base=wait_base, y=wait_y, orientation="h", name="queue wait",
                     marker_color=QUEUE_WAIT_COLOUR, hovertext=wait_hover,
                     hoverinfo="text")]
    traces += [go.Bar(x=run_x[s], base=run_base[s], y=run_y[s], orientation="h", name=s,
                      marker_color=STATUS_COLOURS[s], hovertext=run_hover[s], hoverinfo="text")
               for s in RunStatus if run_x[s]]
    fig = go.Figure(traces)
    peak = peak_concurrency(runs, now) if not runs.empty else 0
    # The legend sits above the plot: below it, it ran into the time axis's labels.
    fig = _layout(fig, f"Runs of the day: queue wait and run time (at most {peak} at once)",
                  "", "", barmode="overlay", hovermode="closest",
                  legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
                  margin={"t": 90, "b": 10})
    fig.update_xaxes(type="date")
    fig.update_yaxes(categoryorder="array", categoryarray=lanes[::-1], type="category")
    fig.update_layout(height=max(260, 60 + 22 * len(lanes)))
    return fig


def coverage_state(coverage: service.Coverage, day: date) -> str:
    """'loaded', 'loading', 'missing' or 'outside' (before the start or after today)."""
    if day in coverage.loaded:
        return "loaded"
    if day in coverage.pending:
        return "loading"
    if coverage.start is not None and coverage.start <= day <= coverage.today:
        return "missing"
    return "outside"


def coverage_calendar(coverage: service.Coverage) -> go.Figure:
    """A calendar heatmap (weeks across, weekdays down) of the dates loaded, being loaded and
    missing between the extract's start and today."""
    first = min([coverage.start or coverage.today, *coverage.loaded])
    first -= timedelta(days=first.weekday())
    last = coverage.today + timedelta(days=6 - coverage.today.weekday())
    weeks = [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]
    codes = {state: n for n, state in enumerate(COVERAGE_STATES)}
    z: list[list[int | None]] = [[None] * len(weeks) for _ in WEEKDAYS]
    text: list[list[str]] = [[""] * len(weeks) for _ in WEEKDAYS]
    for col, monday in enumerate(weeks):
        for row in range(7):
            day = monday + timedelta(days=row)
            if day > coverage.today:
                continue
            state = coverage_state(coverage, day)
            z[row][col] = codes[state]
            text[row][col] = f"{day.isoformat()} {WEEKDAYS[row]}: {state}"
    steps = len(COVERAGE_STATES)
    scale = []
    for n, state in enumerate(COVERAGE_STATES):
        scale += [[n / steps, COVERAGE_COLOURS[state]], [(n + 1) / steps,
                                                         COVERAGE_COLOURS[state]]]
    fig = go.Figure(go.Heatmap(
        x=weeks, y=list(WEEKDAYS), z=z, text=text, hoverinfo="text", zmin=-0.5,
        zmax=steps - 0.5, colorscale=scale, xgap=2, ygap=2, showscale=False))
    for state in COVERAGE_STATES[1:]:  # a legend for the colours
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=state,
                                 marker={"color": COVERAGE_COLOURS[state], "size": 10,
                                         "symbol": "square"}))
    fig = _layout(fig, f"Coverage of {coverage.title}: {coverage.missing_days} day(s) missing",
                  "Week of", "", hovermode="closest")
    fig.update_yaxes(autorange="reversed")
    # Ticks on the Mondays the columns stand for (at most about a dozen labels).
    fig.update_xaxes(tick0=weeks[0], dtick=7 * 86_400_000 * max(1, len(weeks) // 12),
                     tickformat="%b %-d")
    fig.update_layout(height=300, plot_bgcolor="white")
    return fig
