"""`celery -A tests.core.celery_test_app worker`: the product's Celery app plus a source whose
chunks take a set time, so tests can catch a run in the middle (registered in the worker
and in the test process alike)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa

from core.celery_app import app
from core.connectors import registry
from core.connectors.base import (
    AccountSpec,
    ConnectionInfo,
    FetchRequest,
    FetchResult,
    FieldSpec,
    TemplateSpec,
)

__all__ = ["app"]


class SlowSource:
    """`rows` rows per day of the window, one chunk per day, each after `seconds`."""

    name = "slow_source"
    title = "Slow source (tests)"
    config_schema: ClassVar[dict[str, Any]] = {"properties": {
        "seconds": {"type": "number", "title": "Seconds per chunk", "default": 0.0},
        "rows": {"type": "integer", "title": "Rows per day", "default": 10},
    }}

    def check(self, connection: ConnectionInfo) -> str:
        return "ready"

    def discover_accounts(self, connection: ConnectionInfo) -> list[AccountSpec]:
        return [AccountSpec("slow", "Slow account")]

    def templates(self, connection: ConnectionInfo) -> list[TemplateSpec]:
        fields = (FieldSpec("date", "date", "dimension", required=True),
                  FieldSpec("n", "integer", "dimension"))
        return [TemplateSpec(name="days", title="Days", description="Rows per day.",
                             fields=fields, date_field="date", default_fields=("date", "n"))]

    def fetch(self, request: FetchRequest) -> FetchResult:
        return FetchResult(chunks=self._chunks(request))

    def _chunks(self, request: FetchRequest) -> Iterator[pa.Table]:
        seconds = float(request.connection.config.get("seconds", 0.0))
        rows = int(request.connection.config.get("rows", 10))
        for day in pd.date_range(request.date_from, request.date_to, freq="D"):
            time.sleep(seconds)  # the source is slow (the test never waits on this)
            yield pa.table({"date": pa.array([day.date()] * rows, pa.date32()),
                            "n": pa.array(range(rows), pa.int64())})


if "slow_source" not in registry.names():
    registry.register(SlowSource())
