"""What every part of the contract shares: ids, titles, small JSON, pages, and turning
pydantic's validation errors into Problems that name the field."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, Field, ValidationError
from pydantic_core import PydanticCustomError

from core.errors import Invalid, Problem

T = TypeVar("T")

# Ids are 32-bit integers on every database; a larger number can name nothing.
DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]
TITLE_CHARACTERS = 200
ADDITIONAL_PARAMS_BYTES = 64 * 1024
# A title (of an extract, a data table, a connection): shown in lists and page headers.
Title = Annotated[str, Field(max_length=TITLE_CHARACTERS)]


def _small_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """`additional_params` are kept and returned by every read: at most 64 KB of JSON."""
    if value is None:
        return None
    size = len(json.dumps(value, default=str).encode())
    if size > ADDITIONAL_PARAMS_BYTES:
        raise PydanticCustomError(
            "too_large", f"must be at most {ADDITIONAL_PARAMS_BYTES:,} bytes as JSON, "
            f"not {size:,}")
    return value


AdditionalParams = Annotated[dict[str, Any], AfterValidator(_small_json)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


_FRIENDLY = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "date_parsing": "must be an ISO date such as 2025-01-31",
    "date_from_datetime_parsing": "must be an ISO date such as 2025-01-31",
    "date_from_datetime_inexact": "must be an ISO date such as 2025-01-31",
    "date_type": "must be an ISO date such as 2025-01-31",
    "json_invalid": "is not valid JSON",
}
# Where FastAPI found the value: not part of the field's name.
_WHERE = {"body", "query", "path", "header", "cookie"}


def _field(loc: Sequence[int | str]) -> str:
    parts = list(loc)
    if len(parts) > 1 and parts[0] in _WHERE:
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith("function-") or part in {"int", "str"}:
            continue  # pydantic's names of validators and union members, not fields
        else:
            text += f".{part}" if text else part
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validation_problems(raw: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """Pydantic's (or FastAPI's) validation errors as Problems that name the field and say
    what would be right, one per field."""
    seen: dict[str, Problem] = {}
    for error in raw:
        kind = error.get("type", "")
        where = "body" if kind == "json_invalid" else _field(error.get("loc", ()))
        message = _FRIENDLY.get(kind, error.get("msg", "is not valid"))
        if kind == "string_too_long":
            message = f"must be at most {error.get('ctx', {}).get('max_length')} characters"
        if kind not in ("missing", "extra_forbidden", "json_invalid", "too_large",
                        "string_too_long") and "input" in error:
            message += f", not {_short(error['input'])}"
        seen.setdefault(where, Problem(where, message))
    return list(seen.values())


def parse(model: type[T], data: Any) -> T:
    """Parse `data` (a model already, or a mapping) into `model`, or raise Invalid."""
    if isinstance(data, model):
        return data
    if not isinstance(data, Mapping):
        raise Invalid("the body must be a JSON object")
    try:
        return model.model_validate(dict(data))  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise Invalid(validation_problems(exc.errors())) from None
