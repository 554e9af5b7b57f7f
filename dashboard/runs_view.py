"""The runs of one extract: the progress of a historical backfill, the recovery buttons, the
runs table, and each run's log with a Cancel button (the Extract page redraws it all while a
run is under way)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from core import schemas, service
from core.vocabulary import ACTIVE_RUN_STATUSES, FINISHED_RUN_STATUSES, Role, RunStatus, RunTrigger
from dashboard import auth, display, exports_view, state

NOTICE = "extract_notice"  # shown by extract_view.notice()
LOGS_SHOWN = 10
RUN_COLUMNS = {
    "volume": st.column_config.TextColumn(
        "volume", help="Rows per day far from the extract's trailing median of succeeded runs"),
}


@dataclass(frozen=True)
class Backfill:
    """How far a historical backfill has come."""

    done: int
    total: int
    reached: date | None
    seconds_left: float | None


def backfill_progress(runs: list[schemas.RunOut]) -> Backfill | None:
    """Progress of the backfill under way (None when no backfill run is queued or running)."""
    backfill = [r for r in runs
                if r.trigger == RunTrigger.BACKFILL and r.status != RunStatus.CANCELLED]
    pending = [r for r in backfill if r.status in ACTIVE_RUN_STATUSES]
    if not pending:
        return None
    done = [r for r in backfill if r.status in FINISHED_RUN_STATUSES]
    reached = min((r.date_from for r in done
                   if r.status == RunStatus.SUCCEEDED and r.date_from),
                  default=None)
    durations = [r.duration_seconds for r in done if r.duration_seconds is not None]
    left = sum(durations) / len(durations) * len(pending) if durations else None
    return Backfill(len(done), len(backfill), reached, left)


def frame(runs: list[schemas.RunOut], timezone: str,
          anomalies: Mapping[int, service.Anomaly] | None = None) -> pd.DataFrame:
    """One row per run, every cell as the table shows it; Volume flags rows per day far from
    the extract's usual."""
    anomalies = anomalies or {}
    return pd.DataFrame(
        [{"run": r.id, "status": display.status_label(r.status), "trigger": r.trigger,
          "window": display.window(r.date_from, r.date_to), "rows": display.number(r.rows),
          "volume": anomalies[r.id].label if r.id in anomalies else "",
          "duration": display.duration(r.duration_seconds),
          "attempt": f"{r.attempts}/{r.max_attempts}",
          "queued": display.local_time(r.queued_at, timezone), "error": r.error or ""}
         for r in runs],
        columns=["run", "status", "trigger", "window", "rows", "volume", "duration", "attempt",
                 "queued", "error"],
    )


def _load(extract_id: int) -> list[schemas.RunOut]:
    return state.call(service.list_runs, extract_id=extract_id, limit=200) or []


def runs_section(extract_id: int, timezone: str) -> None:
    """Backfill progress, the recovery buttons, the runs table and the logs (running runs
    first, so that the one under way can always be cancelled)."""
    runs = _load(extract_id)
    recovery(extract_id, runs)
    if not runs:
        st.caption("No runs yet: run the extract above, or wait for its schedule.")
        return
    progress = backfill_progress(runs)
    if progress is not None:
        text = f"Historical backfill: {progress.done} of {progress.total} chunks"
        if progress.reached:
            text += f", loaded back to {progress.reached}"
        if progress.seconds_left is not None:
            text += f", about {display.duration(progress.seconds_left)} left"
        st.progress(progress.done / progress.total, text=text)
    anomalies = state.call(service.run_anomalies, extract_id=extract_id) or {}
    with st.container(key=f"extract_runs_{extract_id}"):
        st.dataframe(styled(frame(runs, timezone, anomalies)), hide_index=True,
                     column_config=RUN_COLUMNS, alt="Runs of this extract")
    for run in logs_shown(runs):
        label = f"Run {run.id} · {run.status} · {display.window(run.date_from, run.date_to)}"
        with st.expander(label, icon=display.look(run.status).icon):
            _log(run, timezone)


def styled(table: pd.DataFrame) -> Any:
    """The runs table with each status word in its colour."""
    return table.style.map(display.status_css, subset=["status"])


def logs_shown(runs: list[schemas.RunOut]) -> list[schemas.RunOut]:
    """The runs whose log is offered: every one under way (not queued), then the newest."""
    started = [r for r in runs if r.status in ACTIVE_RUN_STATUSES and r.status != "queued"]
    rest = [r for r in runs if r not in started]
    return started + rest[:max(0, LOGS_SHOWN - len(started))]


def recovery(extract_id: int, runs: list[schemas.RunOut]) -> None:
    """Cancel backfill, Cancel all queued, Retry failed windows: shown when they would do
    something."""
    backfill = [r for r in runs if r.trigger == RunTrigger.BACKFILL
                and r.status in ACTIVE_RUN_STATUSES]
    queued = [r for r in runs if r.status == RunStatus.QUEUED]
    failed = state.call(service.failed_windows, extract_id=extract_id) or []
    if not (backfill or queued or failed):
        return
    done: str | None = None
    with st.container(horizontal=True):
        if backfill and st.button(f"Cancel backfill ({len(backfill)} runs)",
                                  icon=":material/cancel:", key="extract_cancel_backfill",
                                  **auth.lock(Role.EDITOR, "Cancelling runs", help=(
                                      "Cancel every queued chunk of the historical backfill "
                                      "and stop the one running before its next chunk."))):
            count = state.call(service.cancel_backfill, extract_id=extract_id)
            done = None if count is None else f"Cancelled the backfill ({count} run(s))."
        if queued and st.button(f"Cancel all queued ({len(queued)})",
                                icon=":material/playlist_remove:", key="extract_cancel_queued",
                                **auth.lock(Role.EDITOR, "Cancelling runs", help=(
                                    "Cancel every queued run; a running one carries on."))):
            count = state.call(service.cancel_queued, extract_id=extract_id)
            done = None if count is None else f"Cancelled {count} queued run(s)."
        if failed and st.button(f"Retry failed windows ({len(failed)})",
                                icon=":material/replay:", key="extract_retry_failed",
                                **auth.lock(Role.EDITOR, "Running an extract", help=(
                                    "Queue a run for exactly the dates whose last run "
                                    "failed."))):
            retried = state.call(service.retry_failed_windows, extract_id=extract_id)
            done = None if retried is None else \
                f"Queued {len(retried)} retry run(s) for the failed windows."
    if done is not None:
        st.session_state[NOTICE] = done
        st.rerun()


def _log(run: schemas.RunOut, timezone: str) -> None:
    full = state.call(service.get_run, run_id=run.id)
    text = display.log_text(full.log if full else [], timezone)
    if text:
        st.code(text, language=None)
    else:
        st.caption("No log lines yet.")
    if run.status not in ACTIVE_RUN_STATUSES:
        if run.status == RunStatus.SUCCEEDED and run.rows:
            exports_view.panel(key=f"extract_run_{run.id}", run_id=run.id)
        return
    if st.button("Cancel run", icon=":material/cancel:", key=f"extract_cancel_{run.id}",
                 **auth.lock(Role.EDITOR, "Cancelling a run")) \
            and state.call(service.cancel_run, run_id=run.id) is not None:
        st.rerun()
