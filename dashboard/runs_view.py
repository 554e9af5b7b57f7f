"""The runs of one extract: a table that refreshes itself while a run is under way, each run's
log with a Cancel button, and the progress of a historical backfill."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import pandas as pd
import streamlit as st

from core import schemas, service
from core.vocabulary import ACTIVE_RUN_STATUSES, FINISHED_RUN_STATUSES, RunStatus, RunTrigger
from dashboard import display, state

REFRESH_SECONDS = 2
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
          "window": display.window(r.date_from, r.date_to), "rows": r.rows,
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
    """The runs, refreshing every few seconds while one is queued or running."""
    active = any(r.status in ACTIVE_RUN_STATUSES for r in _load(extract_id))
    body = st.fragment(run_every=REFRESH_SECONDS if active else None)(_runs)
    body(extract_id, timezone, active)


def _runs(extract_id: int, timezone: str, was_active: bool) -> None:
    runs = _load(extract_id)
    if was_active and not any(r.status in ACTIVE_RUN_STATUSES for r in runs):
        st.rerun()  # the last run ended: refresh the header and stop polling
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
        st.dataframe(frame(runs, timezone, anomalies), hide_index=True,
                     column_config=RUN_COLUMNS, alt="Runs of this extract")
    for run in runs[:LOGS_SHOWN]:
        label = f"Run {run.id} · {run.status} · {display.window(run.date_from, run.date_to)}"
        with st.expander(label, icon=display.STATUS_ICONS.get(run.status)):
            _log(run, timezone)


def _log(run: schemas.RunOut, timezone: str) -> None:
    full = state.call(service.get_run, run_id=run.id)
    text = display.log_text(full.log if full else [], timezone)
    if text:
        st.code(text, language=None)
    else:
        st.caption("No log lines yet.")
    if run.status not in ACTIVE_RUN_STATUSES:
        return
    if st.button("Cancel run", icon=":material/cancel:", key=f"extract_cancel_{run.id}") \
            and state.call(service.cancel_run, run_id=run.id) is not None:
        st.rerun()
