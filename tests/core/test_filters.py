"""Row filters: every operator of every field type on a small Arrow table, and check()'s
messages."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pytest

from core import filters
from core.connectors.base import FieldSpec, Filter

FIELDS = {f.name: f for f in (
    FieldSpec("name", "string", "dimension"), FieldSpec("clicks", "integer", "metric"),
    FieldSpec("spend", "number", "metric"), FieldSpec("day", "date", "dimension"),
    FieldSpec("seen_at", "datetime", "dimension"),
    FieldSpec("is_active", "boolean", "dimension"),
)}
TYPES = {name: spec.type for name, spec in FIELDS.items()}


def frame() -> pa.Table:
    """Four rows; every column has one null; `row` numbers them."""
    return pa.table({
        "row": [0, 1, 2, 3],
        "name": ["Spring Sale", "Summer Promo", "Brand Search", None],
        "clicks": [5, 10, 20, None],
        "spend": [1.5, 2.0, None, 10.0],
        "day": [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3), None],
        "seen_at": [datetime(2026, 11, 1, 8), datetime(2026, 11, 1, 12), None,
                    datetime(2026, 11, 2)],
        "is_active": [True, False, None, True],
    })


def replaced(data: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return data.set_column(data.column_names.index(name), name, values)


def kept(field: str, operator: str, value: Any = None, data: pa.Table | None = None
         ) -> list[int]:
    """The positions of the rows that pass one filter, checked as a user would give it."""
    item, problems = filters.check({"field": field, "operator": operator, "value": value},
                                   FIELDS, "filters[0]")
    assert problems == [] and item is not None
    passed = filters.apply(frame() if data is None else data, [item], TYPES)
    return passed.column("row").to_pylist()


CASES = [
    # string
    ("name", "eq", "Spring Sale", [0]),
    ("name", "ne", "Spring Sale", [1, 2]),
    ("name", "in", ["Spring Sale", "Brand Search"], [0, 2]),
    ("name", "not_in", ["Spring Sale"], [1, 2]),
    ("name", "is_null", None, [3]),
    ("name", "is_not_null", None, [0, 1, 2]),
    ("name", "contains", "mm", [1]),
    ("name", "not_contains", "Sale", [1, 2]),
    ("name", "starts_with", "S", [0, 1]),
    ("name", "ends_with", "Search", [2]),
    # integer
    ("clicks", "eq", 10, [1]),
    ("clicks", "ne", 10, [0, 2]),
    ("clicks", "in", [5, 20], [0, 2]),
    ("clicks", "not_in", [5], [1, 2]),
    ("clicks", "is_null", None, [3]),
    ("clicks", "is_not_null", None, [0, 1, 2]),
    ("clicks", "gt", 5, [1, 2]),
    ("clicks", "gte", 10, [1, 2]),
    ("clicks", "lt", 10, [0]),
    ("clicks", "lte", 10, [0, 1]),
    ("clicks", "between", [6, 20], [1, 2]),
    # number
    ("spend", "eq", 2, [1]),
    ("spend", "ne", 2.0, [0, 3]),
    ("spend", "in", [1.5, 10], [0, 3]),
    ("spend", "not_in", [1.5], [1, 3]),
    ("spend", "is_null", None, [2]),
    ("spend", "is_not_null", None, [0, 1, 3]),
    ("spend", "gt", 1.5, [1, 3]),
    ("spend", "gte", 2, [1, 3]),
    ("spend", "lt", 2, [0]),
    ("spend", "lte", 2, [0, 1]),
    ("spend", "between", [1.5, 2], [0, 1]),
    # date
    ("day", "eq", "2026-11-02", [1]),
    ("day", "ne", "2026-11-02", [0, 2]),
    ("day", "in", ["2026-11-01", "2026-11-03"], [0, 2]),
    ("day", "not_in", ["2026-11-01"], [1, 2]),
    ("day", "is_null", None, [3]),
    ("day", "is_not_null", None, [0, 1, 2]),
    ("day", "gt", "2026-11-01", [1, 2]),
    ("day", "gte", "2026-11-02", [1, 2]),
    ("day", "lt", "2026-11-02", [0]),
    ("day", "lte", "2026-11-02", [0, 1]),
    ("day", "between", ["2026-11-02", "2026-11-03"], [1, 2]),
    # datetime
    ("seen_at", "eq", "2026-11-01T12:00:00", [1]),
    ("seen_at", "ne", "2026-11-01T12:00:00", [0, 3]),
    ("seen_at", "in", ["2026-11-01T08:00:00", "2026-11-02T00:00:00"], [0, 3]),
    ("seen_at", "not_in", ["2026-11-01T08:00:00"], [1, 3]),
    ("seen_at", "is_null", None, [2]),
    ("seen_at", "is_not_null", None, [0, 1, 3]),
    ("seen_at", "gt", "2026-11-01T08:00:00", [1, 3]),
    ("seen_at", "gte", "2026-11-01T12:00:00", [1, 3]),
    ("seen_at", "lt", "2026-11-01T12:00:00", [0]),
    ("seen_at", "lte", "2026-11-01T12:00:00", [0, 1]),
    ("seen_at", "between", ["2026-11-01T00:00:00", "2026-11-01T23:59:59"], [0, 1]),
    # boolean
    ("is_active", "eq", True, [0, 3]),
    ("is_active", "eq", False, [1]),
    ("is_active", "ne", True, [1]),
    ("is_active", "is_null", None, [2]),
    ("is_active", "is_not_null", None, [0, 1, 3]),
]


def test_the_cases_cover_every_operator_of_every_type() -> None:
    covered = {(TYPES[field], operator) for field, operator, _, _ in CASES}
    assert covered == {(t, op) for t, ops in filters.OPERATORS.items() for op in ops}


@pytest.mark.parametrize(("field", "operator", "value", "expected"), CASES)
def test_each_operator_keeps_the_rows_that_pass(field: str, operator: str, value: Any,
                                                 expected: list[int]) -> None:
    assert kept(field, operator, value) == expected


def test_dates_stored_as_iso_text_filter_like_dates() -> None:
    data = replaced(frame(), "day", pa.array(["2026-11-01", "2026-11-02", "2026-11-03", None]))

    assert kept("day", "between", ["2026-11-02", "2026-11-03"], data) == [1, 2]


def test_date_times_with_and_without_an_offset_compare_in_utc() -> None:
    aware = replaced(frame(), "seen_at",
                     frame().column("seen_at").cast(pa.timestamp("us", tz="Europe/Berlin")))

    assert kept("seen_at", "gt", "2026-11-01T09:00:00+02:00") == [0, 1, 3]
    assert kept("seen_at", "gt", "2026-11-01T08:00:00", aware) == [1, 3]
    assert kept("seen_at", "eq", "2026-11-01T13:00:00+01:00", aware) == [1]


def test_several_filters_must_all_pass() -> None:
    items = [Filter("name", "starts_with", "S"), Filter("clicks", "gte", 10)]

    assert filters.apply(frame(), items, TYPES).column("row").to_pylist() == [1]


def test_no_filters_or_no_rows_give_the_frame_back() -> None:
    data = frame()
    assert filters.apply(data, [], TYPES) is data
    empty = data.slice(0, 0)
    assert filters.apply(empty, [Filter("clicks", "gt", 1)], TYPES).num_rows == 0


# -- check() -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "where", "message"), [
    ({"field": "nope", "operator": "eq", "value": 1}, "filters[0].field",
     "unknown field 'nope'; pick one of clicks, day, is_active, name, seen_at, spend"),
    ({"operator": "eq", "value": 1}, "filters[0].field",
     "unknown field None; pick one of clicks, day, is_active, name, seen_at, spend"),
    ({"field": "clicks", "operator": "contains", "value": "1"}, "filters[0].operator",
     "operator 'contains' does not fit integer field clicks; use one of eq, ne, in, not_in, "
     "is_null, is_not_null, gt, gte, lt, lte, between"),
    ({"field": "is_active", "operator": "gt", "value": True}, "filters[0].operator",
     "operator 'gt' does not fit boolean field is_active; use one of eq, ne, is_null, "
     "is_not_null"),
    ({"field": "name", "operator": "like", "value": "x"}, "filters[0].operator",
     "operator 'like' does not fit string field name; use one of eq, ne, in, not_in, is_null, "
     "is_not_null, contains, not_contains, starts_with, ends_with"),
    ({"field": "name", "operator": "eq", "value": 5}, "filters[0].value",
     "name eq: value must be text, not 5"),
    ({"field": "clicks", "operator": "eq", "value": "5"}, "filters[0].value",
     "clicks eq: value must be a whole number, not '5'"),
    ({"field": "clicks", "operator": "eq", "value": 5.5}, "filters[0].value",
     "clicks eq: value must be a whole number, not 5.5"),
    ({"field": "clicks", "operator": "eq", "value": True}, "filters[0].value",
     "clicks eq: value must be a whole number, not True"),
    ({"field": "spend", "operator": "gt", "value": "1.5"}, "filters[0].value",
     "spend gt: value must be a number, not '1.5'"),
    ({"field": "spend", "operator": "gt", "value": False}, "filters[0].value",
     "spend gt: value must be a number, not False"),
    ({"field": "is_active", "operator": "eq", "value": "true"}, "filters[0].value",
     "is_active eq: value must be true or false, not 'true'"),
    ({"field": "day", "operator": "eq", "value": "2025-02-30"}, "filters[0].value",
     "day eq: value must be an ISO date such as 2025-01-31, not '2025-02-30'"),
    ({"field": "seen_at", "operator": "gt", "value": "yesterday"}, "filters[0].value",
     "seen_at gt: value must be an ISO date-time such as 2025-01-31T08:00:00, not 'yesterday'"),
    ({"field": "clicks", "operator": "eq"}, "filters[0].value",
     "clicks eq: value is required"),
    ({"field": "clicks", "operator": "in", "value": []}, "filters[0].value",
     "clicks in: value must be a non-empty list for in, not []"),
    ({"field": "name", "operator": "not_in", "value": "a"}, "filters[0].value",
     "name not_in: value must be a non-empty list for not_in, not 'a'"),
    ({"field": "clicks", "operator": "in", "value": [1, "2"]}, "filters[0].value",
     "clicks in: value must be a whole number, not '2'"),
    ({"field": "clicks", "operator": "between", "value": [3]}, "filters[0].value",
     "clicks between: value must be a list [low, high] for between, not [3]"),
    ({"field": "day", "operator": "between", "value": ["2026-11-03", "2026-11-01"]},
     "filters[0].value", "day between: value low 2026-11-03 is above high 2026-11-01"),
])
def test_check_names_the_field_and_says_what_would_be_right(raw: dict[str, Any], where: str,
                                                           message: str) -> None:
    item, problems = filters.check(raw, FIELDS, "filters[0]")

    assert item is None
    assert [(p.field, p.message) for p in problems] == [(where, message)]


def test_check_returns_typed_values_and_to_json_gives_them_back_as_text() -> None:
    cases = [
        ({"field": "spend", "operator": "gte", "value": 2}, 2.0, 2),
        ({"field": "day", "operator": "in", "value": ["2026-11-01"]}, [date(2026, 11, 1)],
         ["2026-11-01"]),
        ({"field": "seen_at", "operator": "lt", "value": "2026-11-01T08:00:00"},
         datetime(2026, 11, 1, 8), "2026-11-01T08:00:00"),
        ({"field": "name", "operator": "is_null", "value": "ignored"}, None, None),
    ]
    for raw, typed, shown in cases:
        item, problems = filters.check(raw, FIELDS, "filters[0]")
        assert problems == [] and item is not None
        assert item.value == typed
        assert filters.to_json(item)["value"] == shown
