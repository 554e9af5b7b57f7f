"""Errors as HTTP: every error answers {"details": "..."} with a fitting status code."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from core import errors

log = logging.getLogger(__name__)


class ErrorOut(BaseModel):
    """The body of every error answer."""

    details: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Bad input; every problem names its field."},
    401: {"model": ErrorOut, "description": "Missing, unknown, revoked or expired credentials."},
    404: {"model": ErrorOut, "description": "An id that names nothing."},
    409: {"model": ErrorOut, "description": "Clashes with the current state."},
    422: {"model": ErrorOut, "description": "The request does not fit the declared shape."},
}

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


def validation_problems(raw: Sequence[Any]) -> list[errors.Problem]:
    """FastAPI's validation errors as Problems that name the field, one per field."""
    seen: dict[str, errors.Problem] = {}
    for error in raw:
        kind = error.get("type", "")
        where = "body" if kind == "json_invalid" else _field(error.get("loc", ()))
        message = _FRIENDLY.get(kind, error.get("msg", "is not valid"))
        if kind not in ("missing", "extra_forbidden", "json_invalid") and "input" in error:
            message += f", not {_short(error['input'])}"
        seen.setdefault(where, errors.Problem(where, message))
    return list(seen.values())


def _answer(status: int, details: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"details": details}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Map domain errors, validation errors and HTTP errors to {"details": ...} answers."""

    @app.exception_handler(errors.Invalid)
    async def _invalid(_request: Request, exc: errors.Invalid) -> JSONResponse:
        return _answer(400, "; ".join(str(p) for p in exc.problems))

    @app.exception_handler(RequestValidationError)
    async def _unprocessable(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = validation_problems(exc.errors())
        return _answer(422, "; ".join(str(p) for p in problems))

    @app.exception_handler(errors.NotFound)
    async def _not_found(_request: Request, exc: errors.NotFound) -> JSONResponse:
        return _answer(404, str(exc))

    @app.exception_handler(errors.Unauthorized)
    async def _unauthorized(_request: Request, exc: errors.Unauthorized) -> JSONResponse:
        return _answer(401, str(exc), {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(errors.ExtractsError)
    async def _conflict(_request: Request, exc: errors.ExtractsError) -> JSONResponse:
        # Conflict, Cancelled and any other deliberate error: the state forbids the request.
        return _answer(409, str(exc))

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        details = str(exc.detail)
        if details == "There was an error parsing the body":  # FastAPI's words: name the field
            details = "body: could not be read; send JSON with Content-Type: application/json"
        return _answer(exc.status_code, details, exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return _answer(500, f"internal error ({type(exc).__name__}); see the server log")
