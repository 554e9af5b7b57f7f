"""What routes depend on: the database, a session per request, the clock, the caller's key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from core import errors, schemas, service
from core.vocabulary import Role

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


# The dependencies that do no I/O are coroutines: FastAPI runs a plain function in its
# thread pool, and each hop there costs more than these take.

async def get_backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


# Requests that only read: their session takes no write lock, and the database refuses a
# write in it (core.db.read_only_engine).
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request, backend: Annotated[Backend, Depends(get_backend)]
                      ) -> AsyncIterator[Session]:
    """One session per request: committed when the route returns, rolled back if it raises;
    a read-only one for GET, HEAD and OPTIONS."""
    read_only = request.method in READ_METHODS
    opened = backend.database().session(read_only=read_only)
    # Opening does no I/O (the first statement takes a connection, in the route's thread).
    session = opened.__enter__()
    try:
        yield session
    except BaseException as exc:
        await _close(opened, exc, read_only and not service.writes_after(session))
        raise
    await _close(opened, None, read_only and not service.writes_after(session))


async def _close(opened: AbstractContextManager[Session], exc: BaseException | None,
                 only_reads: bool) -> None:
    """Commit (or roll back) and close: a read's COMMIT ends a read transaction, so it runs
    here; a write's COMMIT may wait for the disk or a lock, so it runs in the thread pool."""
    finish = partial(opened.__exit__, type(exc) if exc else None, exc,
                     exc.__traceback__ if exc else None)
    if only_reads:
        finish()
    else:
        await run_in_threadpool(finish)


async def get_now(backend: Annotated[Backend, Depends(get_backend)]) -> datetime:
    return backend.clock()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
NowDep = Annotated[datetime, Depends(get_now)]

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A token from POST /api/v3/token, or an API key's secret itself.",
)


def require_key(request: Request, session: SessionDep, now: NowDep,
                credentials: Annotated[HTTPAuthorizationCredentials | None,
                                       Depends(bearer_scheme)]) -> schemas.Actor:
    """Who acts: the API key behind the request's bearer credential (401 without one), with
    the role the request needs (403 naming it). The request's session acts as the key: every
    change it makes is checked against the key's role and written to the audit log."""
    if credentials is None:
        raise errors.Unauthorized("send Authorization: Bearer <token>; get a token from "
                                   "POST /api/v3/token with your API key id and secret")
    actor = service.authenticate(session=session, bearer=credentials.credentials, now=now)
    needed = role_needed(request.method, request.scope.get("route"))
    if not actor.role.allows(needed):
        raise errors.Forbidden(f"{request.method} {request.url.path} needs the {needed} role; "
                               f"{actor.label} acts as {actor.role}")
    service.act_as(session, actor, now)
    return actor


# Paths whose changes only admins make: connections (and what they reach), users, roles,
# and where alerts go.
ADMIN_PATHS = ("/v3/connections", "/v3/users", "/v3/notification-channels")
# Paths whose changes are a person's own (their daily digest): anyone signed in makes them.
OWN_PATHS = ("/v3/digest",)


def role_needed(method: str, route: Any) -> Role:
    """Reading needs a viewer; changing an extract or run an editor; a connection an admin;
    one's own digest anyone."""
    path = str(getattr(route, "path", ""))
    if method in READ_METHODS or path.rstrip("/") in OWN_PATHS:  # either slash twin
        return Role.VIEWER
    return Role.ADMIN if path.startswith(ADMIN_PATHS) else Role.EDITOR


ExtractId = Annotated[int, Path(ge=1, le=MAX_ID, description="The extract's id.")]
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="The run's id.")]
ConnectionId = Annotated[int, Path(ge=1, le=MAX_ID, description="The connection's id.")]
TemplateId = Annotated[int, Path(ge=1, le=MAX_ID, description="The extract template's id.")]
DataTableId = Annotated[int, Path(ge=1, le=MAX_ID, description="The data table's id.")]
