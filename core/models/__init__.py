"""SQLAlchemy ORM of the metadata database, one module per part (the schema itself is made by
migrations/). Every model is importable from here, and importing this registers them all."""

from core.models.access import ApiKey, ApiToken, AuditEvent, User
from core.models.alerts import Alert, AlertRule, Delivery, DigestSubscription, NotificationChannel
from core.models.base import NAMING, NEVER_REUSE_IDS, Base, UTCDateTime
from core.models.catalog import Account, Connection, DataTable, Template
from core.models.extracts import Extract, Run, Schedule, SourceState
from core.models.worker import SCHEDULER_LEASE, AppState, CeleryWorker, Lease, ScheduleFire

__all__ = [
    "NAMING",
    "NEVER_REUSE_IDS",
    "SCHEDULER_LEASE",
    "Account",
    "Alert",
    "AlertRule",
    "ApiKey",
    "ApiToken",
    "AppState",
    "AuditEvent",
    "Base",
    "CeleryWorker",
    "Connection",
    "DataTable",
    "Delivery",
    "DigestSubscription",
    "Extract",
    "Lease",
    "NotificationChannel",
    "Run",
    "Schedule",
    "ScheduleFire",
    "SourceState",
    "Template",
    "UTCDateTime",
    "User",
]
