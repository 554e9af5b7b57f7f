"""The product's words, defined once: extract and run statuses, run triggers, log levels,
schedule frequencies and weekdays, filter operators.

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
    DISPATCHED = "dispatched"  # handed to a distributed executor (Celery), not yet started
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
ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.DISPATCHED, RunStatus.RUNNING)
# A run that takes a slot of its extract and of its connection (the caps count these).
BUSY_RUN_STATUSES = (RunStatus.DISPATCHED, RunStatus.RUNNING)
FINISHED_RUN_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED)
# Claim order among queued runs: what a person asked for goes first, catching up goes last.
PRIORITY = {RunTrigger.MANUAL: 0, RunTrigger.RETRY: 1, RunTrigger.SCHEDULE: 2,
            RunTrigger.BACKFILL: 3}


class Frequency(StrEnum):
    """How often a schedule fires."""

    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    CRON = "cron"


class Weekday(StrEnum):
    """A weekly schedule's day, Monday first (its position is the stored number, 0-6)."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


FREQUENCIES = tuple(Frequency)
WEEKDAYS = tuple(Weekday)
# The hours an hourly schedule may fire every (divisors of a day).
EVERY_HOURS = (1, 2, 3, 4, 6, 8, 12)


class Operator(StrEnum):
    """How a row filter compares a field with its value."""

    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    IS_NULL = "is_null"
    IS_NOT_NULL = "is_not_null"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"


_COMMON = (Operator.EQ, Operator.NE, Operator.IN, Operator.NOT_IN, Operator.IS_NULL,
           Operator.IS_NOT_NULL)
_ORDERED = (Operator.GT, Operator.GTE, Operator.LT, Operator.LTE, Operator.BETWEEN)
_TEXT = (Operator.CONTAINS, Operator.NOT_CONTAINS, Operator.STARTS_WITH, Operator.ENDS_WITH)
# The operators that fit each field type, in the order a form offers them.
OPERATORS: dict[str, tuple[Operator, ...]] = {
    "string": _COMMON + _TEXT,
    "integer": _COMMON + _ORDERED,
    "number": _COMMON + _ORDERED,
    "date": _COMMON + _ORDERED,
    "datetime": _COMMON + _ORDERED,
    "boolean": (Operator.EQ, Operator.NE, Operator.IS_NULL, Operator.IS_NOT_NULL),
}
# Operators that take no value; operators that take a list of values.
NO_VALUE = (Operator.IS_NULL, Operator.IS_NOT_NULL)
LIST_VALUE = (Operator.IN, Operator.NOT_IN)


class Role(StrEnum):
    """What a person (or an API key) may do; each role may do all that the ones before it may.

    viewer: sees everything, changes nothing. editor: creates, edits, runs, pauses, cancels
    extracts and fills gaps. admin: also connections, custom SQL templates, users and roles,
    and any API key.
    """

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class ActorKind(StrEnum):
    """Who acted, as the audit log says it."""

    USER = "user"
    API_KEY = "api key"


class EventKind(StrEnum):
    """What an alert tells: the events channels receive (also the kinds of open alerts)."""

    RUN_FAILED = "run.failed"  # final: after the last retry
    PAUSED_AUTOMATICALLY = "extract.paused_automatically"
    RECOVERED = "extract.recovered"  # the first success after a failure or an auto-pause
    STALE = "extract.stale"
    VOLUME_ANOMALY = "run.volume_anomaly"
    RUN_SUCCEEDED = "run.succeeded"  # optional: only to rules that ask for it
    TEST = "test"  # "Send test" on a channel; never matched by rules
    DIGEST = "digest"  # the daily digest email to one person; never matched by rules


# The kinds that open an alert (one open per extract and kind); a success closes the first
# three with one extract.recovered.
ALERTING_EVENTS = (EventKind.RUN_FAILED, EventKind.PAUSED_AUTOMATICALLY, EventKind.STALE,
                   EventKind.VOLUME_ANOMALY)
RULE_EVENTS = tuple(k for k in EventKind if k not in (EventKind.TEST, EventKind.DIGEST))


class ChannelKind(StrEnum):
    """Where alerts go."""

    WEBHOOK = "webhook"  # signed as Standard Webhooks says
    SLACK = "slack"  # a Slack incoming webhook
    EMAIL = "email"  # over SMTP


class DeliveryStatus(StrEnum):
    """Where one message to one channel stands."""

    PENDING = "pending"  # waiting for its (next) attempt
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up: still failing after the retry period
