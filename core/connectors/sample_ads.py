"""Sample Ads: the demo datasource. No credentials; deterministic rows per account and date.

The last three days drift a little between runs, as late attribution does in real ad
platforms, so a lookback window visibly matters. `rows_per_day` sets the volume (benchmarks)
and `failure_rate` makes some chunks fail transiently (demos of retries).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.connectors.base import (
    AccountSpec,
    ConnectionInfo,
    FetchRequest,
    FetchResult,
    FieldSpec,
    TemplateSpec,
    TransientError,
)

CHUNK_ROWS = 50_000
LATE_DAYS = 3
ACCOUNTS = (
    AccountSpec("sa-1001", "Acme Retail"),
    AccountSpec("sa-1002", "Globex Travel"),
    AccountSpec("sa-1003", "Initech Software"),
)
CHANNELS = np.array(["search", "social", "display", "video"], dtype=object)
COUNTRIES = np.array(["US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "PL", "BR", "CA", "AU"],
                     dtype=object)
ADJECTIVES = ("Spring", "Summer", "Autumn", "Winter", "Brand", "Promo", "Always-on", "Launch")
NOUNS = ("Sale", "Awareness", "Retargeting", "Prospecting", "Search", "Video", "Catalog", "Leads")
ATTRIBUTION = {"1d_click": 0.6, "7d_click": 1.0, "28d_click": 1.25}


def _dim(name: str, type_: Any = "string", required: bool = False) -> FieldSpec:
    return FieldSpec(name, type_, "dimension", required)


def _metric(name: str, type_: Any = "integer") -> FieldSpec:
    return FieldSpec(name, type_, "metric")


_ATTRIBUTION_SCHEMA = {
    "properties": {
        "attribution_window": {
            "type": "string", "title": "Attribution window", "default": "7d_click",
            "enum": list(ATTRIBUTION),
            "description": "How long after a click a conversion still counts.",
        }
    }
}

TEMPLATES = (
    TemplateSpec(
        name="campaign_performance",
        title="Campaign performance (daily)",
        description="Impressions, clicks, spend, conversions and revenue per campaign and day.",
        fields=(
            _dim("date", "date", required=True), _dim("campaign_id", required=True),
            _dim("campaign_name"), _dim("channel"),
            _metric("impressions"), _metric("clicks"), _metric("spend", "number"),
            _metric("conversions"), _metric("revenue", "number"),
        ),
        date_field="date",
        default_fields=("date", "campaign_id", "campaign_name", "channel", "impressions",
                        "clicks", "spend"),
        depth_limit_days=730,
        settings_schema=_ATTRIBUTION_SCHEMA,
    ),
    TemplateSpec(
        name="ad_group_performance",
        title="Ad group performance (daily)",
        description="Impressions, clicks and spend per ad group and day.",
        fields=(
            _dim("date", "date", required=True), _dim("campaign_id"),
            _dim("ad_group_id", required=True), _dim("ad_group_name"),
            _metric("impressions"), _metric("clicks"), _metric("spend", "number"),
        ),
        date_field="date",
        default_fields=("date", "ad_group_id", "ad_group_name", "impressions", "clicks", "spend"),
        depth_limit_days=365,
    ),
    TemplateSpec(
        name="geo_performance",
        title="Geo performance (daily)",
        description="Impressions, clicks, spend and conversions per country, campaign and day.",
        fields=(
            _dim("date", "date", required=True), _dim("country", required=True),
            _dim("campaign_id"), _metric("impressions"), _metric("clicks"),
            _metric("spend", "number"), _metric("conversions"),
        ),
        date_field="date",
        default_fields=("date", "country", "impressions", "clicks", "spend"),
        depth_limit_days=365,
        settings_schema=_ATTRIBUTION_SCHEMA,
    ),
    TemplateSpec(
        name="campaigns",
        title="Campaigns (lifetime)",
        description="The campaigns of an account with their settings; no date, replaced whole.",
        fields=(
            _dim("campaign_id", required=True), _dim("campaign_name"), _dim("channel"),
            _dim("is_active", "boolean"), _dim("start_date", "date"),
            _metric("daily_budget", "number"),
        ),
        date_field=None,
        default_fields=("campaign_id", "campaign_name", "channel", "is_active", "daily_budget"),
    ),
)


def _seed(*parts: object) -> int:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@lru_cache(maxsize=64)
def _campaigns(account: str, start: int, stop: int) -> pd.DataFrame:
    """The stable dimensions of campaigns [start, stop) of an account."""
    idx = np.arange(start, stop)
    rng = np.random.default_rng(_seed(account, "campaigns", start, stop))
    names = [f"{ADJECTIVES[i % 8]} {NOUNS[(i // 8) % 8]} {i + 1}" for i in idx.tolist()]
    return pd.DataFrame({
        "campaign_id": [f"{account}-c{i:06d}" for i in idx.tolist()],
        "campaign_name": names,
        "channel": CHANNELS[idx % len(CHANNELS)],
        "reach": rng.uniform(200, 20_000, len(idx)),
        "ctr": rng.uniform(0.004, 0.05, len(idx)),
        "cpc": rng.uniform(0.2, 3.0, len(idx)),
        "cvr": rng.uniform(0.01, 0.08, len(idx)),
    })


class SampleAds:
    """The demo datasource."""

    name = "sample_ads"
    title = "Sample Ads (demo)"
    config_schema: ClassVar[Mapping[str, Any]] = {
        "properties": {
            "rows_per_day": {"type": "integer", "title": "Campaigns per account",
                             "default": 20, "minimum": 1, "maximum": 5_000_000,
                             "description": "Rows per account and day (volume for benchmarks)."},
            "failure_rate": {"type": "number", "title": "Failure rate", "default": 0.0,
                             "minimum": 0.0, "maximum": 1.0,
                             "description": "Share of chunks that fail with a transient error."},
        }
    }

    def check(self, connection: ConnectionInfo) -> str:
        return f"Sample Ads is reachable: {len(ACCOUNTS)} demo accounts"

    def discover_accounts(self, connection: ConnectionInfo) -> list[AccountSpec]:
        return list(ACCOUNTS)

    def templates(self, connection: ConnectionInfo) -> list[TemplateSpec]:
        return list(TEMPLATES)

    def fetch(self, request: FetchRequest) -> FetchResult:
        # Rows are made for the window's days only.
        return FetchResult(chunks=self._chunks(request), window_applied=True)

    def _chunks(self, request: FetchRequest) -> Iterator[pa.Table]:
        rows_per_day = int(request.connection.config.get("rows_per_day", 20))
        failure_rate = float(request.connection.config.get("failure_rate", 0.0))
        account = request.account.external_id
        if request.template.date_field is None:
            for start in range(0, rows_per_day, CHUNK_ROWS):
                _maybe_fail(failure_rate)
                frame = _lifetime(account, start, min(start + CHUNK_ROWS, rows_per_day))
                yield frame.select(list(request.fields))
            return
        assert request.date_from is not None and request.date_to is not None
        factor = ATTRIBUTION[request.options.get("attribution_window", "7d_click")]
        day = request.date_from
        while day <= request.date_to:
            for start in range(0, rows_per_day, CHUNK_ROWS):
                _maybe_fail(failure_rate)
                stop = min(start + CHUNK_ROWS, rows_per_day)
                frame = _daily(request.template.name, account, day, start, stop, factor,
                               late=(request.today - day).days < LATE_DAYS)
                yield frame.select(list(request.fields))
            day += timedelta(days=1)


def _maybe_fail(rate: float) -> None:
    if rate and random.random() < rate:
        raise TransientError("Sample Ads API timed out (simulated by failure_rate)")


def _lifetime(account: str, start: int, stop: int) -> pa.Table:
    campaigns = _campaigns(account, start, stop)
    n = len(campaigns)
    offsets = (np.arange(start, stop) * 37) % 900
    first = np.datetime64(date(2024, 1, 1), "D")
    return pa.table({
        "campaign_id": campaigns["campaign_id"].to_numpy(),
        "campaign_name": campaigns["campaign_name"].to_numpy(),
        "channel": campaigns["channel"].to_numpy(),
        "is_active": (np.arange(start, stop) % 5) != 0,
        "start_date": pa.array(first + offsets.astype("timedelta64[D]"), pa.date32()),
        "daily_budget": np.round(campaigns["reach"].to_numpy() * campaigns["cpc"].to_numpy()
                                 * campaigns["ctr"].to_numpy() * 1.5, 2)[:n],
    })


def _daily(template: str, account: str, day: date, start: int, stop: int, factor: float,
           late: bool) -> pa.Table:
    campaigns = _campaigns(account, start, stop)
    n = len(campaigns)
    rng = np.random.default_rng(_seed(account, template, day.toordinal(), start))
    weekday_boost = 1.15 if day.weekday() < 5 else 0.85
    impressions = rng.poisson(campaigns["reach"].to_numpy() * weekday_boost)
    if late:
        # Late attribution: recent days keep growing a little between runs.
        impressions = np.round(impressions * (1 + np.random.default_rng().uniform(0, 0.03, n)))
    impressions = impressions.astype(np.int64)
    clicks = rng.binomial(impressions, campaigns["ctr"].to_numpy()).astype(np.int64)
    spend = np.round(clicks * campaigns["cpc"].to_numpy(), 2)
    conversions = rng.binomial(clicks, np.minimum(campaigns["cvr"].to_numpy() * factor, 1.0))
    revenue = np.round(conversions * rng.uniform(20, 120, n), 2)
    ids = pa.array(campaigns["campaign_id"].to_numpy(), pa.string())
    names = pa.array(campaigns["campaign_name"].to_numpy(), pa.string())
    columns: dict[str, Any] = {
        "date": pa.array(np.full(n, np.datetime64(day, "D")), pa.date32()),
        "campaign_id": ids,
        "campaign_name": names,
        "channel": pa.array(campaigns["channel"].to_numpy(), pa.string()),
        "impressions": impressions,
        "clicks": clicks,
        "spend": spend,
        "conversions": conversions.astype(np.int64),
        "revenue": revenue,
    }
    if template == "ad_group_performance":
        columns["ad_group_id"] = pc.binary_join_element_wise(ids, "-ag1", "")
        columns["ad_group_name"] = pc.binary_join_element_wise(names, " / Ad group 1", "")
    elif template == "geo_performance":
        columns["country"] = pa.array(COUNTRIES[np.arange(start, stop) % len(COUNTRIES)],
                                      pa.string())
    return pa.table(columns)
