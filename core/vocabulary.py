"""The product's words, defined once: extract and run statuses, run triggers, log levels.

Members are `StrEnum`s, so they compare equal to the strings stored in the database and sent
over the API; the dashboard's labels and colours map from them.
"""

from __future__ import annotations

from enum import StrEnum


class ExtractStatus(StrEnum):
    """Where an extract stands: scheduled and idle, a run under way, paused, or failing."""

    ACTIVE = "active"
    SYNCING = "syncing"
    PAUSED = "paused"
    ERROR = "error"


class RunStatus(StrEnum):
    """Where one run stands."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunTrigger(StrEnum):
    """What queued a run."""

    SCHEDULE = "schedule"
    MANUAL = "manual"
    BACKFILL = "backfill"
    RETRY = "retry"


class LogLevel(StrEnum):
    """The level of one line of a run's log."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


# A run that still holds (or waits for) a worker; one that has an outcome.
ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
FINISHED_RUN_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED)
# Claim order among queued runs: what a person asked for goes first, catching up goes last.
PRIORITY = {RunTrigger.MANUAL: 0, RunTrigger.RETRY: 1, RunTrigger.SCHEDULE: 2,
            RunTrigger.BACKFILL: 3}
