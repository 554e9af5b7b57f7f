"""Errors as HTTP: every error answers {"details": "..."} with a fitting status code."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from core import errors, schemas

log = logging.getLogger(__name__)


class ErrorOut(BaseModel):
    """The body of every error answer."""

    details: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Bad input; every problem names its field."},
    401: {"model": ErrorOut, "description": "Missing, unknown, revoked or expired credentials."},
    403: {"model": ErrorOut, "description": "The key's role does not allow it; says the role "
                                             "needed."},
    404: {"model": ErrorOut, "description": "An id that names nothing."},
    409: {"model": ErrorOut, "description": "Clashes with the current state."},
    413: {"model": ErrorOut, "description": "The body is larger than EXTRACTS_MAX_REQUEST_BYTES."},
    422: {"model": ErrorOut, "description": "The request does not fit the declared shape."},
}

def _answer(status: int, details: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"details": details}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Map domain errors, validation errors and HTTP errors to {"details": ...} answers."""

    @app.exception_handler(errors.Invalid)
    async def _invalid(_request: Request, exc: errors.Invalid) -> JSONResponse:
        return _answer(400, "; ".join(str(p) for p in exc.problems))

    @app.exception_handler(RequestValidationError)
    async def _unprocessable(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = schemas.validation_problems(exc.errors())
        return _answer(422, "; ".join(str(p) for p in problems))

    @app.exception_handler(errors.NotFound)
    async def _not_found(_request: Request, exc: errors.NotFound) -> JSONResponse:
        return _answer(404, str(exc))

    @app.exception_handler(errors.Unauthorized)
    async def _unauthorized(_request: Request, exc: errors.Unauthorized) -> JSONResponse:
        return _answer(401, str(exc), {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(errors.Forbidden)
    async def _forbidden(_request: Request, exc: errors.Forbidden) -> JSONResponse:
        return _answer(403, str(exc))

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
