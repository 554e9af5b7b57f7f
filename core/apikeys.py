"""API keys of the REST API: create, revoke, list, and check credentials.

Only SHA-256 hashes of key secrets and bearer tokens are stored; the secrets are random
(256 bits), so a fast hash is enough and a leaked database reveals no usable credential.

`python -m core.apikeys create NAME` prints a new key's id and secret (once);
`python -m core.apikeys revoke KEY_ID`; `python -m core.apikeys list`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import secrets
import shlex
import sys
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core import errors
from core.models import ApiKey, ApiToken
from core.services.common import utcnow

TOKEN_LIFETIME = timedelta(minutes=30)
# last_used_at is written at most this often per key, so reads do not all turn into writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)
KEY_ID_PREFIX = "key_"
SECRET_PREFIX = "sk_"
TOKEN_PREFIX = "tok_"


class Unauthorized(errors.ExtractsError):
    """Credentials missing, unknown, revoked or expired."""


class ApiKeyOut(BaseModel):
    """An API key as listed; the secret is never included."""

    key_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewApiKey(ApiKeyOut):
    """A key just created, with its secret: the only time the secret is shown."""

    secret: str


class TokenOut(BaseModel):
    """A bearer token minted from an API key."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    expires_at: datetime


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(key_id=key.key_id, name=key.name, created_at=key.created_at,
                     last_used_at=key.last_used_at, revoked_at=key.revoked_at)


def _load(session: Session, key_id: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if key is None:
        raise errors.NotFound(f"API key {key_id} does not exist")
    return key


def _touch(key: ApiKey, now: datetime) -> None:
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now


def create_key(*, session: Session, name: str, now: datetime | None = None) -> NewApiKey:
    """Create an API key; the returned secret is shown this once and stored only as a hash."""
    name = name.strip()
    if not name:
        raise errors.Invalid("must not be empty; say who or what uses the key", field="name")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(key_id=KEY_ID_PREFIX + secrets.token_hex(8), name=name,
                 secret_hash=_hash(secret), created_at=now or utcnow())
    session.add(key)
    session.flush()
    return NewApiKey(**_key_out(key).model_dump(), secret=secret)


def revoke_key(*, session: Session, key_id: str, now: datetime | None = None) -> ApiKeyOut:
    """Revoke an API key: its secret and every token minted from it stop working."""
    key = _load(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = now or utcnow()
    session.execute(delete(ApiToken).where(ApiToken.api_key_id == key.id))
    session.flush()
    return _key_out(key)


def list_keys(*, session: Session) -> list[ApiKeyOut]:
    """Every API key, newest first, with when it was last used."""
    return [_key_out(k) for k in session.scalars(select(ApiKey).order_by(ApiKey.id.desc()))]


def issue_token(*, session: Session, key_id: str, secret: str, now: datetime | None = None
                ) -> TokenOut:
    """Check a key id and secret (HTTP Basic) and mint a bearer token valid 30 minutes."""
    now = now or utcnow()
    key = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        raise Unauthorized("unknown API key id or wrong secret")
    if key.revoked_at is not None:
        raise Unauthorized(f"API key {key_id} was revoked")
    session.execute(delete(ApiToken).where(ApiToken.expires_at < now))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + TOKEN_LIFETIME
    session.add(ApiToken(api_key_id=key.id, token_hash=_hash(token), created_at=now,
                         expires_at=expires_at))
    _touch(key, now)
    session.flush()
    return TokenOut(access_token=token, expires_in=int(TOKEN_LIFETIME.total_seconds()),
                    expires_at=expires_at)


def authenticate(*, session: Session, bearer: str, now: datetime | None = None) -> ApiKeyOut:
    """The key behind a bearer credential (a token from issue_token or a key's secret)."""
    now = now or utcnow()
    digest = _hash(bearer)
    if bearer.startswith(TOKEN_PREFIX):
        token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if token is None:
            raise Unauthorized("unknown bearer token; get one from POST /api/v3/token")
        if token.expires_at <= now:
            raise Unauthorized("bearer token expired; get a new one from POST /api/v3/token")
        key = token.api_key
    else:
        found = session.scalar(select(ApiKey).where(ApiKey.secret_hash == digest))
        if found is None:
            raise Unauthorized("unknown bearer token")
        key = found
    if key.revoked_at is not None:
        raise Unauthorized(f"API key {key.key_id} was revoked")
    _touch(key, now)
    return _key_out(key)


def main(argv: list[str] | None = None) -> int:
    """`create NAME`, `revoke KEY_ID` or `list`, against the configured database."""
    parser = argparse.ArgumentParser(prog="python -m core.apikeys",
                                     description="Manage the REST API's keys.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print its id and secret once")
    create.add_argument("name", help="who or what uses the key")
    create.add_argument("--shell", action="store_true",
                        help="print KEY_ID=... and SECRET=... lines for `eval`")
    commands.add_parser("list", help="list keys with their last use")
    revoke = commands.add_parser("revoke", help="revoke a key and its tokens")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)

    from core.config import get_settings
    from core.db import open_database

    db = open_database(get_settings(), seed=False)
    try:
        with db.session() as session:
            if args.command == "create":
                key = create_key(session=session, name=args.name)
                if args.shell:
                    print(f"KEY_ID={shlex.quote(key.key_id)}\nSECRET={shlex.quote(key.secret)}")
                else:
                    print(f"key id: {key.key_id}\nsecret: {key.secret}\n"
                          "The secret is shown only now; store it somewhere safe.")
            elif args.command == "revoke":
                revoked = revoke_key(session=session, key_id=args.key_id)
                print(f"revoked {revoked.key_id} ({revoked.name})")
            else:
                for k in list_keys(session=session):
                    state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
                    used = f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never"
                    print(f"{k.key_id}  {k.name!r}  {state}  last used {used}")
    except errors.ExtractsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
