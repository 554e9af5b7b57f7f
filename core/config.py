"""Settings from `EXTRACTS_*` environment variables, declared in one place.

`get_settings()` builds them when called, never at import time. `python -m core.config`
prints the README's table of settings from the same declarations.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from core import errors
from core.vocabulary import Role

PREFIX = "EXTRACTS_"
EXECUTORS = ("local", "celery")


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    parse: Callable[[str], Any]


def _positive_int(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("must be a whole number, 1 or more") from None
    if value < 1:
        raise ValueError("must be 1 or more")
    return value


def _whole_number(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("must be a whole number, 0 or more") from None
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _emails(text: str) -> frozenset[str]:
    found = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    bad = sorted(e for e in found if "@" not in e)
    if bad:
        raise ValueError(f"must be email addresses separated by commas; {bad[0]!r} is not one")
    return found


def _role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise ValueError(f"must be one of {', '.join(r.value for r in Role)}") from None


def _paths(text: str) -> tuple[Path, ...]:
    return tuple(Path(part.strip()) for part in text.split(",") if part.strip())


def _hosts(text: str) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in text.split(",") if part.strip())


def _hour(text: str) -> int:
    value = _whole_number(text)
    if value > 23:
        raise ValueError("must be an hour of the day, 0 to 23 (UTC)")
    return value


def _executor(text: str) -> str:
    value = text.strip().lower()
    if value not in EXECUTORS:
        raise ValueError(f"must be one of {', '.join(EXECUTORS)}")
    return value


def _queue_name(text: str) -> str:
    value = text.strip()
    if not value or len(value) > 200 or not all(c.isalnum() or c in "._-" for c in value):
        raise ValueError("must be 1 to 200 letters, digits, '.', '_' or '-'")
    return value


def _schema_name(text: str) -> str:
    value = text.strip()
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
        raise ValueError("must be a PostgreSQL schema name: lowercase letters, digits and _, "
                         "starting with a letter or _, at most 63")
    return value


def _memory_size(text: str) -> str:
    value = text.strip().replace(" ", "")
    if not re.fullmatch(r"[1-9][0-9]*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value, re.IGNORECASE):
        raise ValueError("must be an amount of memory such as 128MB or 2GB")
    return value


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


SETTINGS: tuple[Setting, ...] = (
    Setting("VAR_DIR", "./var",
            "Folder for the embedded SQLite files and the generated secret key.", str),
    Setting("DATABASE_URL", "sqlite:///{VAR_DIR}/extracts.db",
            "SQLAlchemy URL of the metadata database (extracts, schedules, runs).", str),
    Setting("WAREHOUSE_URL", "sqlite:///{VAR_DIR}/warehouse.db",
            "SQLAlchemy URL of the warehouse that holds the data tables.", str),
    Setting("SECRET_KEY", "",
            "Key that encrypts connection secrets; if empty, one is generated once into "
            "{VAR_DIR}/secret.key (mode 0600).", str),
    Setting("SCHEDULES_LIMIT", "3", "Most schedules one extract may have.", _positive_int),
    Setting("MAX_WORKERS", "4", "Most runs executing at once in one worker.", _positive_int),
    Setting("BACKFILL_CHUNK_DAYS", "31",
            "Longest window of one run; longer manual and historical windows are split.",
            _positive_int),
    Setting("SEED_DEMO", "true",
            "Create a Sample Ads connection with its accounts on first start.", _bool),
    Setting("EMBEDDED_WORKER", "true",
            "Run the worker inside the dashboard process (once per process).", _bool),
    Setting("RETRY_ATTEMPTS", "3",
            "Attempts a run gets when the source fails transiently.", _positive_int),
    Setting("RETRY_BASE_DELAY", "30",
            "Seconds before the first retry; each further retry waits twice as long.",
            _positive_int),
    Setting("AUTO_PAUSE_AFTER", "5",
            "Consecutive failed runs after which an extract is paused.", _positive_int),
    Setting("RUN_TIMEOUT", "7200",
            "Seconds after which a running run is cancelled as timed out (with Celery, keep "
            "RabbitMQ's `consumer_timeout` longer).", _positive_int),
    Setting("BUSY_TIMEOUT", "30",
            "Seconds a write waits for another's lock (SQLite's write lock; PostgreSQL's "
            "`lock_timeout`); a run still waiting then is retried later.", _positive_int),
    Setting("SHUTDOWN_GRACE", "20",
            "Seconds a stopping worker lets its runs in flight finish (0: none); the rest are "
            "queued again and rolled back.", _whole_number),
    Setting("OIDC_METADATA_URL", "",
            "OpenID Connect discovery URL of the identity provider people sign in with "
            "(.../.well-known/openid-configuration); empty: single-user mode, 127.0.0.1 only.",
            str),
    Setting("OIDC_CLIENT_ID", "", "The dashboard's client id at the identity provider.", str),
    Setting("OIDC_CLIENT_SECRET", "", "The dashboard's client secret at the identity provider.",
            str),
    Setting("PUBLIC_URL", "http://localhost:8501",
            "The dashboard's address as browsers reach it; the identity provider sends people "
            "back to {PUBLIC_URL}/oauth2callback.", str),
    Setting("LISTEN_ADDRESS", "127.0.0.1",
            "Address `dev.py run` listens on; any other than loopback needs sign-in.", str),
    Setting("ADMIN_EMAILS", "",
            "Emails (comma-separated) that are admins from their first sign-in.", _emails),
    Setting("DEFAULT_ROLE", "viewer",
            "Role of anyone else on their first sign-in: viewer, editor or admin.", _role),
    Setting("WAREHOUSE_SCHEMA", "extracts_data",
            "PostgreSQL warehouse: the schema the data tables live in, apart from the "
            "product's own tables (so both may share one database); created at start.",
            _schema_name),
    Setting("DUCKDB_MEMORY_LIMIT", "128MB",
            "DuckDB warehouse: memory DuckDB may use (a load's rows until its commit "
            "included); beyond it DuckDB spills to {VAR_DIR}/duckdb-spill.", _memory_size),
    Setting("DUCKDB_THREADS", "1",
            "DuckDB warehouse: DuckDB's worker threads; each more holds its own buffers "
            "(about 40 MB more per million rows a load writes).", _positive_int),
    Setting("FILES_ROOTS", "{VAR_DIR}/files",
            "Folders (comma-separated) that files connections may read; created at start. "
            "A path outside them, after `..` and symlinks, is refused.", _paths),
    Setting("SQL_HOSTS", "",
            "Database hosts (comma-separated) sql connections may reach; empty: any. Never the "
            "product's own metadata database or warehouse.", _hosts),
    Setting("HTTP_HOSTS", "",
            "Hosts (comma-separated) http_json connections may call; empty: any.", _hosts),
    Setting("SOURCES_DIR", "{VAR_DIR}/sources",
            "Folder of the Airbyte sources' and Singer taps' environments (one per package "
            "and version, reused; may be shared by several var directories).", str),
    Setting("MAX_REQUEST_BYTES", "1048576",
            "Largest API request body in bytes; a larger one is refused with 413.",
            _positive_int),
    Setting("EXECUTOR", "local",
            "Where runs execute: `local` (the worker's own threads) or `celery` (Celery "
            "workers on any number of machines; needs PostgreSQL metadata).", _executor),
    Setting("BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//",
            "The Celery broker (RabbitMQ) when EXECUTOR is `celery`.", str),
    Setting("CELERY_QUEUE", "extracts",
            "The RabbitMQ queue that carries runs to the Celery workers.", _queue_name),
    Setting("CANCEL_GRACE", "30",
            "Seconds a cancelled Celery run gets to stop by itself before its task is "
            "terminated (revoked).", _whole_number),
    Setting("ALERT_REMINDER_HOURS", "6",
            "Hours between reminders of an alert still open and not acknowledged (an extract "
            "that keeps failing sends one alert, then one reminder per this many hours).",
            _positive_int),
    Setting("ALERT_RETRY_HOURS", "24",
            "Hours the deliverer keeps retrying a message a channel refuses (with exponential "
            "backoff) before it gives up and logs it failed.", _positive_int),
    Setting("ALERT_HOSTS", "",
            "Hosts (comma-separated) alert webhooks, Slack and SMTP may reach; empty: any.",
            _hosts),
    Setting("DIGEST_HOUR", "7",
            "The hour of the day (UTC, 0-23) from which the worker holding the scheduler lease "
            "sends the daily digest email about the day before to the people who asked for it.",
            _hour),
)


@dataclass(frozen=True)
class Settings:
    """The product's configuration; build it with `get_settings()`."""

    var_dir: Path
    database_url: str
    warehouse_url: str
    secret_key: str
    schedules_limit: int
    max_workers: int
    backfill_chunk_days: int
    seed_demo: bool
    embedded_worker: bool
    retry_attempts: int
    retry_base_delay: int
    auto_pause_after: int
    run_timeout: int
    busy_timeout: int
    shutdown_grace: int
    oidc_metadata_url: str
    oidc_client_id: str
    oidc_client_secret: str
    public_url: str
    listen_address: str
    admin_emails: frozenset[str]
    default_role: Role
    warehouse_schema: str
    duckdb_memory_limit: str
    duckdb_threads: int
    files_roots: tuple[Path, ...]
    sql_hosts: frozenset[str]
    http_hosts: frozenset[str]
    sources_dir: str
    max_request_bytes: int

    @property
    def sign_in(self) -> bool:
        """Whether people sign in (an identity provider is configured)."""
        return bool(self.oidc_metadata_url)
    executor: str
    broker_url: str
    celery_queue: str
    cancel_grace: int
    alert_reminder_hours: int
    alert_retry_hours: int
    alert_hosts: frozenset[str]
    digest_hour: int

    def with_overrides(self, **changes: Any) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


def get_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ
    raw = {s.name: env.get(PREFIX + s.name, "") or s.default for s in SETTINGS}
    var_dir = raw["VAR_DIR"]
    values: dict[str, Any] = {}
    problems: list[str] = []
    for setting in SETTINGS:
        text = raw[setting.name].replace("{VAR_DIR}", var_dir)
        try:
            values[setting.name.lower()] = setting.parse(text)
        except ValueError as exc:
            problems.append(f"{PREFIX}{setting.name}={text!r} {exc}")
    if not problems and (problem := executor_problem(values["executor"],
                                                    values["database_url"])):
        problems.append(problem)
    if problems:
        raise errors.Invalid("; ".join(problems))
    values["var_dir"] = Path(values["var_dir"])
    return Settings(**values)


def executor_problem(executor: str, database_url: str) -> str | None:
    """Why the executor cannot work with this metadata database, or None."""
    if executor == "celery" and not database_url.startswith("postgresql"):
        return (f"{PREFIX}EXECUTOR=celery needs PostgreSQL metadata: Celery workers on several "
                f"machines cannot share {database_url!r}; set {PREFIX}DATABASE_URL="
                "postgresql+psycopg://user:password@db-host:5432/extracts")
    return None


def secret_key(settings: Settings) -> str:
    """The configured secret key, or the one generated into var/secret.key on first use."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.var_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    # O_EXCL: two processes starting at once must not overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def markdown_table() -> str:
    """The README's table of settings."""
    lines = ["| Variable | Default | What it does |", "| --- | --- | --- |"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else (
            "(generated)" if s.name == "SECRET_KEY" else "(none)")
        lines.append(f"| `{PREFIX}{s.name}` | {default} | {s.help} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")
