"""POST /api/v3/token: trade an API key (HTTP Basic) for a bearer token valid 30 minutes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from api.deps import NowDep, SessionDep
from api.routing import BothSlashesRouter
from core import errors, schemas, service

router = BothSlashesRouter(tags=["auth"])

basic_scheme = HTTPBasic(auto_error=False,
                         description="Username: the API key id; password: its secret.")


@router.post("/v3/token", response_model=schemas.TokenOut)
def issue_token(session: SessionDep, now: NowDep,
                credentials: Annotated[HTTPBasicCredentials | None, Depends(basic_scheme)]
                ) -> schemas.TokenOut:
    """A bearer token valid 30 minutes, for the API key given as HTTP Basic credentials."""
    if credentials is None:
        raise errors.Unauthorized("send the API key id and secret as HTTP Basic credentials "
                                   "(curl -u KEY_ID:SECRET)")
    return service.issue_token(session=session, key_id=credentials.username,
                               secret=credentials.password, now=now)
