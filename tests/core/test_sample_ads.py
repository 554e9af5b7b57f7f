"""Sample Ads, the demo datasource, asked directly with a FetchRequest."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from core.connectors import registry, sample_ads
from core.connectors.base import (
    AccountSpec,
    ConnectionInfo,
    FetchRequest,
    TransientError,
    validate_options,
)

TODAY = date(2026, 11, 28)
TEMPLATES = {t.name: t for t in sample_ads.TEMPLATES}
SOURCE = sample_ads.SampleAds()


def request(*, template: str = "campaign_performance", fields: list[str] | None = None,
            date_from: date | None = date(2026, 11, 1), date_to: date | None = date(2026, 11, 7),
            account: str = "sa-1001", options: dict[str, Any] | None = None,
            **config: Any) -> FetchRequest:
    spec = TEMPLATES[template]
    return FetchRequest(
        connection=ConnectionInfo(id=1, datasource="sample_ads", config=config, secrets={}),
        account=AccountSpec(account, "Acme Retail"), template=spec,
        fields=tuple(fields or [f.name for f in spec.fields]), filters=(),
        options=options or {}, date_from=date_from, date_to=date_to, today=TODAY)


def fetch(req: FetchRequest) -> pd.DataFrame:
    result = SOURCE.fetch(req)
    assert result.filters_applied is False  # Sample Ads leaves filtering to the runner
    assert result.window_applied is True  # it makes rows for the window's days only
    chunks = list(result.chunks)
    assert all(isinstance(c, pa.Table) for c in chunks)
    return pa.concat_tables(chunks).to_pandas()


def test_the_demo_source_is_registered_with_three_accounts_and_four_templates() -> None:
    connection = request().connection
    assert registry.get("sample_ads").name == "sample_ads"
    assert [a.name for a in SOURCE.discover_accounts(connection)] == [
        "Acme Retail", "Globex Travel", "Initech Software"]
    assert [t.title for t in SOURCE.templates(connection)] == [
        "Campaign performance (daily)", "Ad group performance (daily)",
        "Geo performance (daily)", "Campaigns (lifetime)"]
    assert [t.date_field for t in SOURCE.templates(connection)] == ["date", "date", "date", None]
    assert SOURCE.check(connection).startswith("Sample Ads is reachable")


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_every_template_returns_its_fields_as_requested(template: str) -> None:
    spec = TEMPLATES[template]
    fields = list(reversed(spec.default_fields))
    dated = spec.date_field is not None

    rows = fetch(request(template=template, fields=fields, date_from=date(2026, 11, 1) if dated
                         else None, date_to=date(2026, 11, 2) if dated else None))

    assert rows.columns.tolist() == fields
    assert len(rows) == (2 * 20 if dated else 20)
    assert rows.notna().all().all()


def test_days_older_than_three_days_are_the_same_on_every_fetch() -> None:
    window = {"date_from": TODAY - timedelta(days=30), "date_to": TODAY - timedelta(days=3)}

    first = fetch(request(**window))
    second = fetch(request(**window))

    pd.testing.assert_frame_equal(first, second)
    assert len(first) == 28 * 20
    assert not first.duplicated(["date", "campaign_id"]).any()


def test_a_day_is_the_same_whatever_window_it_is_fetched_in() -> None:
    wide = fetch(request(date_from=date(2026, 11, 1), date_to=date(2026, 11, 7)))
    one_day = fetch(request(date_from=date(2026, 11, 4), date_to=date(2026, 11, 4)))

    pd.testing.assert_frame_equal(
        wide[wide["date"] == date(2026, 11, 4)].reset_index(drop=True), one_day)


def test_accounts_differ_in_their_campaigns_and_numbers() -> None:
    acme = fetch(request(account="sa-1001"))
    globex = fetch(request(account="sa-1002"))

    assert set(acme["campaign_id"]).isdisjoint(globex["campaign_id"])
    assert acme["impressions"].tolist() != globex["impressions"].tolist()


def test_the_last_three_days_drift_a_little_between_fetches() -> None:
    window = {"date_from": TODAY - timedelta(days=4), "date_to": TODAY}

    first = fetch(request(**window))
    second = fetch(request(**window))

    recent = first["date"] > TODAY - timedelta(days=3)
    assert set(first.loc[recent, "date"]) == {TODAY - timedelta(days=d) for d in range(3)}
    pd.testing.assert_frame_equal(first[~recent], second[~recent])
    before, after = first.loc[recent, "impressions"], second.loc[recent, "impressions"]
    assert (before != after).any()
    # Late attribution adds at most 3 % to a day's impressions.
    assert ((before - after).abs() <= 0.031 * pd.concat([before, after], axis=1).max(axis=1)
            ).all()
    pd.testing.assert_series_equal(first["campaign_id"], second["campaign_id"])


def test_rows_per_day_sets_the_volume_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sample_ads, "CHUNK_ROWS", 10)

    chunks = list(SOURCE.fetch(request(rows_per_day=25, date_from=date(2026, 11, 1),
                                       date_to=date(2026, 11, 3))).chunks)

    assert [len(c) for c in chunks] == [10, 10, 5] * 3
    rows = pa.concat_tables(chunks).to_pandas()
    assert len(rows) == 75
    assert rows.groupby("date")["campaign_id"].nunique().tolist() == [25, 25, 25]
    lifetime = fetch(request(template="campaigns", date_from=None, date_to=None,
                             rows_per_day=7))
    assert len(lifetime) == 7


def test_a_failure_rate_of_one_fails_transiently() -> None:
    chunks = SOURCE.fetch(request(failure_rate=1.0)).chunks

    with pytest.raises(TransientError, match="timed out"):
        next(chunks)


def test_a_longer_attribution_window_counts_more_conversions() -> None:
    short = fetch(request(options={"attribution_window": "1d_click"}))
    long = fetch(request(options={"attribution_window": "28d_click"}))

    assert short["clicks"].tolist() == long["clicks"].tolist()
    assert short["conversions"].sum() < long["conversions"].sum()


def test_the_volume_setting_is_bounded_by_the_connection_form() -> None:
    _, problems = validate_options(SOURCE.config_schema, {"rows_per_day": 0}, "config")
    assert [str(p) for p in problems] == ["config.rows_per_day: must be at least 1, not 0"]
    clean, problems = validate_options(SOURCE.config_schema, {}, "config")
    assert (clean, problems) == ({"rows_per_day": 20, "failure_rate": 0.0}, [])
