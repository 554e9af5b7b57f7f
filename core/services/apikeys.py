"""API keys of the REST API: create, revoke, list, and check credentials.

Only SHA-256 hashes of key secrets and bearer tokens are stored; the secrets are random
(256 bits), so a fast hash is enough and a leaked database reveals no usable credential.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core import errors, schemas
from core.clock import utcnow
from core.models import ApiKey, ApiToken

TOKEN_LIFETIME = timedelta(minutes=30)
# last_used_at is written at most this often per key, so reads do not all turn into writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)
KEY_ID_PREFIX = "key_"
SECRET_PREFIX = "sk_"
TOKEN_PREFIX = "tok_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key_out(key: ApiKey) -> schemas.ApiKeyOut:
    return schemas.ApiKeyOut(key_id=key.key_id, name=key.name, created_at=key.created_at,
                     last_used_at=key.last_used_at, revoked_at=key.revoked_at)


def _load(session: Session, key_id: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if key is None:
        raise errors.NotFound(f"API key {key_id} does not exist")
    return key


def _touch(key: ApiKey, now: datetime) -> None:
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now


def create_api_key(*, session: Session, name: str, now: datetime | None = None
                   ) -> schemas.NewApiKey:
    """Create an API key; the returned secret is shown this once and stored only as a hash."""
    name = name.strip()
    if not name:
        raise errors.Invalid("must not be empty; say who or what uses the key", field="name")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(key_id=KEY_ID_PREFIX + secrets.token_hex(8), name=name,
                 secret_hash=_hash(secret), created_at=now or utcnow())
    session.add(key)
    session.flush()
    return schemas.NewApiKey(**_key_out(key).model_dump(), secret=secret)


def revoke_api_key(*, session: Session, key_id: str, now: datetime | None = None
                   ) -> schemas.ApiKeyOut:
    """Revoke an API key: its secret and every token minted from it stop working."""
    key = _load(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = now or utcnow()
    session.execute(delete(ApiToken).where(ApiToken.api_key_id == key.id))
    session.flush()
    return _key_out(key)


def list_api_keys(*, session: Session) -> list[schemas.ApiKeyOut]:
    """Every API key, newest first, with when it was last used."""
    return [_key_out(k) for k in session.scalars(select(ApiKey).order_by(ApiKey.id.desc()))]


def issue_token(*, session: Session, key_id: str, secret: str, now: datetime | None = None
                ) -> schemas.TokenOut:
    """Check a key id and secret (HTTP Basic) and mint a bearer token valid 30 minutes."""
    now = now or utcnow()
    key = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        raise errors.Unauthorized("unknown API key id or wrong secret")
    if key.revoked_at is not None:
        raise errors.Unauthorized(f"API key {key_id} was revoked")
    session.execute(delete(ApiToken).where(ApiToken.expires_at < now))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + TOKEN_LIFETIME
    session.add(ApiToken(api_key_id=key.id, token_hash=_hash(token), created_at=now,
                         expires_at=expires_at))
    _touch(key, now)
    session.flush()
    return schemas.TokenOut(access_token=token, expires_in=int(TOKEN_LIFETIME.total_seconds()),
                    expires_at=expires_at)


def authenticate(*, session: Session, bearer: str, now: datetime | None = None
                 ) -> schemas.ApiKeyOut:
    """The key behind a bearer credential (a token from issue_token or a key's secret)."""
    now = now or utcnow()
    digest = _hash(bearer)
    if bearer.startswith(TOKEN_PREFIX):
        token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        if token is None:
            raise errors.Unauthorized("unknown bearer token; get one from POST /api/v3/token")
        if token.expires_at <= now:
            raise errors.Unauthorized("bearer token expired; get a new one from POST /api/v3/token")
        key = token.api_key
    else:
        found = session.scalar(select(ApiKey).where(ApiKey.secret_hash == digest))
        if found is None:
            raise errors.Unauthorized("unknown bearer token")
        key = found
    if key.revoked_at is not None:
        raise errors.Unauthorized(f"API key {key.key_id} was revoked")
    _touch(key, now)
    return _key_out(key)
