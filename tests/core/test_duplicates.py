"""Before a create: an extract that would load the very same rows is found (and only that)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core import service
from tests.conftest import extract_body, make_extract

FILTER = {"field": "clicks", "operator": "gte", "value": 5}


def body(**overrides: Any) -> dict[str, Any]:
    settings = {"fields": ["spend", "clicks", "campaign_id", "date"], "filters": [FILTER]}
    return extract_body(**{"accounts": [1, 2], "template_settings": settings, **overrides})


def test_the_same_account_template_fields_filters_and_table_is_a_duplicate(
        session: Session) -> None:
    existing = make_extract(session, template_settings={
        "fields": ["date", "campaign_id", "clicks", "spend"],
        "filters": [FILTER]})  # fields in another order: the same extract

    assert service.find_duplicates(session=session, data=body()) == {
        existing.id: existing.title}


def test_any_difference_is_no_duplicate(session: Session) -> None:
    make_extract(session, template_settings={
        "fields": ["date", "campaign_id", "clicks", "spend"], "filters": [FILTER]})
    other_filter = {**FILTER, "value": 6}
    variants = [
        body(accounts=[2, 3]),
        body(data_table_title="Another table"),
        extract_body(accounts=[1], template_settings={"fields": ["date", "campaign_id",
                                                                 "clicks"],
                                                      "filters": [FILTER]}),
        extract_body(accounts=[1], template_settings={
            "fields": ["date", "campaign_id", "clicks", "spend"], "filters": [other_filter]}),
        {"template_id": "not a number"},
    ]
    for data in variants:
        assert service.find_duplicates(session=session, data=data) == {}, data
