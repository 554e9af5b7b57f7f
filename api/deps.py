"""What routes depend on: the database, a session per request, the clock, the caller's key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from core import errors, schemas, service

# Ids are 32-bit integers on every database; a larger one is bad input, not a server error.
MAX_ID = 2**31 - 1


@dataclass
class Backend:
    """The database the API serves (opened by the app's lifespan unless given) and its clock."""

    db: service.Database | None = None
    clock: Callable[[], datetime] = field(default=service.utcnow)

    def database(self) -> service.Database:
        if self.db is None:
            raise RuntimeError("the API's database is not open; serve the app with its lifespan")
        return self.db


def get_backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def get_session(backend: Annotated[Backend, Depends(get_backend)]) -> Iterator[Session]:
    """One session per request: committed when the route returns, rolled back if it raises."""
    with backend.database().session() as session:
        yield session


def get_now(backend: Annotated[Backend, Depends(get_backend)]) -> datetime:
    return backend.clock()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
NowDep = Annotated[datetime, Depends(get_now)]

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A token from POST /api/v3/token, or an API key's secret itself.",
)


def require_key(session: SessionDep, now: NowDep,
                credentials: Annotated[HTTPAuthorizationCredentials | None,
                                       Depends(bearer_scheme)]) -> schemas.ApiKeyOut:
    """The API key behind the request's bearer credential, or 401."""
    if credentials is None:
        raise errors.Unauthorized("send Authorization: Bearer <token>; get a token from "
                                   "POST /api/v3/token with your API key id and secret")
    return service.authenticate(session=session, bearer=credentials.credentials, now=now)


ExtractId = Annotated[int, Path(ge=1, le=MAX_ID, description="The extract's id.")]
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="The run's id.")]
ConnectionId = Annotated[int, Path(ge=1, le=MAX_ID, description="The connection's id.")]
TemplateId = Annotated[int, Path(ge=1, le=MAX_ID, description="The extract template's id.")]
DataTableId = Annotated[int, Path(ge=1, le=MAX_ID, description="The data table's id.")]
