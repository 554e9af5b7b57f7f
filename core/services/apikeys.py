"""API keys of the REST API: create, revoke, list, and check credentials.

Only SHA-256 hashes of key secrets and bearer tokens are stored; the secrets are random
(256 bits), so a fast hash is enough and a leaked database reveals no usable credential.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, literal, select, update
from sqlalchemy.orm import Session

from core import audit, errors, schemas
from core.clock import utcnow
from core.db import is_read_only, write_after
from core.models import ApiKey, ApiToken, User
from core.vocabulary import ActorKind, Role

TOKEN_LIFETIME = timedelta(minutes=30)
# last_used_at is written at most this often per key, so reads do not all turn into writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)
KEY_ID_PREFIX = "key_"
SECRET_PREFIX = "sk_"
TOKEN_PREFIX = "tok_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _key_out(key: ApiKey) -> schemas.ApiKeyOut:
    return schemas.ApiKeyOut(key_id=key.key_id, name=key.name, role=Role(key.role),
                             owner=key.user.email if key.user else None,
                             created_at=key.created_at, last_used_at=key.last_used_at,
                             revoked_at=key.revoked_at)


def _acts_as(role: str, owner_role: str | None) -> Role:
    """A key's own role, never above its owner's (a demoted owner's keys are demoted too)."""
    if owner_role is not None and not Role(owner_role).allows(Role(role)):
        return Role(owner_role)
    return Role(role)


def _may_manage(session: Session, key: ApiKey, doing: str) -> None:
    """Each user manages their own keys; an admin any key."""
    actor = audit.actor_of(session)
    if actor is not None and not (actor.user_id is not None and actor.user_id == key.user_id):
        audit.require(session, Role.ADMIN, f"{doing} another's API key")


def _load(session: Session, key_id: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if key is None:
        raise errors.NotFound(f"API key {key_id} does not exist")
    return key


def _touch(key: ApiKey, now: datetime) -> None:
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now


def create_api_key(*, session: Session, name: str, role: Role | str | None = None,
                   now: datetime | None = None) -> schemas.NewApiKey:
    """Create an API key for the one acting (a signed-in user owns it; the CLI's keys have no
    owner), with their role or a lower one; the returned secret is shown this once and
    stored only as a hash."""
    name = name.strip()
    if not name:
        raise errors.Invalid("must not be empty; say who or what uses the key", field="name")
    if len(name) > schemas.TITLE_CHARACTERS:
        raise errors.Invalid(f"must be at most {schemas.TITLE_CHARACTERS} characters",
                             field="name")
    actor = audit.actor_of(session)
    ceiling = actor.role if actor is not None else Role.ADMIN
    try:
        wanted = Role(role) if role is not None else ceiling
    except ValueError:
        raise errors.Invalid(f"{role!r} is not a role; use one of "
                             f"{', '.join(r.value for r in Role)}", field="role") from None
    if not ceiling.allows(wanted):
        raise errors.Forbidden(f"a key cannot do more than the one who makes it: "
                               f"{actor.label if actor else 'you'} acts as {ceiling}, "
                               f"so the key's role may be at most {ceiling}")
    owner = session.get(User, actor.user_id) if actor and actor.user_id else None
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(key_id=KEY_ID_PREFIX + secrets.token_hex(8), name=name, role=wanted,
                 user=owner, secret_hash=_hash(secret), created_at=now or utcnow())
    session.add(key)
    session.flush()
    return schemas.NewApiKey(**_key_out(key).model_dump(), secret=secret)


def revoke_api_key(*, session: Session, key_id: str, now: datetime | None = None
                   ) -> schemas.ApiKeyOut:
    """Revoke an API key: its secret and every token minted from it stop working."""
    key = _load(session, key_id)
    _may_manage(session, key, "revoking")
    if key.revoked_at is None:
        key.revoked_at = now or utcnow()
    session.execute(delete(ApiToken).where(ApiToken.api_key_id == key.id))
    session.flush()
    return _key_out(key)


def list_api_keys(*, session: Session, mine: bool = False) -> list[schemas.ApiKeyOut]:
    """API keys, newest first, with when each was last used: all of them for an admin (or
    the system), only one's own for anyone else or with `mine`."""
    query = select(ApiKey).order_by(ApiKey.id.desc())
    actor = audit.actor_of(session)
    if actor is not None and (mine or not actor.role.allows(Role.ADMIN)):
        query = query.where(ApiKey.user_id == actor.user_id) if actor.user_id is not None \
            else query.where(ApiKey.id == actor.api_key_id)
    return [_key_out(k) for k in session.scalars(query)]


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


# What authenticate reads, in one statement built once: the key (by a token's hash or its
# own secret's), its owner's role and the token's expiry.
_KEY_COLUMNS = (ApiKey.id, ApiKey.key_id, ApiKey.name, ApiKey.role, ApiKey.user_id,
                ApiKey.last_used_at, ApiKey.revoked_at, User.role)
_BY_TOKEN = (select(*_KEY_COLUMNS, ApiToken.expires_at)
             .join(ApiToken, ApiToken.api_key_id == ApiKey.id)
             .outerjoin(User, User.id == ApiKey.user_id)
             .where(ApiToken.token_hash == bindparam("digest")))
_BY_SECRET = (select(*_KEY_COLUMNS, literal(None))
              .outerjoin(User, User.id == ApiKey.user_id)
              .where(ApiKey.secret_hash == bindparam("digest")))


def authenticate(*, session: Session, bearer: str, now: datetime | None = None
                 ) -> schemas.Actor:
    """Who acts with a bearer credential (a token from issue_token or a key's secret): the
    key, with its role capped by its owner's."""
    now = now or utcnow()
    digest = _hash(bearer)
    is_token = bearer.startswith(TOKEN_PREFIX)
    # On the Core connection: one row of plain values, no ORM layer around the statement.
    row = session.connection().execute(_BY_TOKEN if is_token else _BY_SECRET,
                                       {"digest": digest}).one_or_none()
    if row is None:
        raise errors.Unauthorized("unknown bearer token; get one from POST /api/v3/token"
                                  if is_token else "unknown bearer token")
    key_id, public_id, name, role, user_id, last_used_at, revoked_at, owner_role, expires_at = row
    if is_token and expires_at <= now:
        raise errors.Unauthorized("bearer token expired; get a new one from POST /api/v3/token")
    if revoked_at is not None:
        raise errors.Unauthorized(f"API key {public_id} was revoked")
    if last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION:
        _record_use(session, key_id, now)
    return schemas.Actor(kind=ActorKind.API_KEY, name=f"{public_id} ({name})",
                         role=_acts_as(role, owner_role), user_id=user_id, api_key_id=key_id)


def _record_use(session: Session, key_id: int, now: datetime) -> None:
    """Set a key's last_used_at: in `session`, or, if it only reads, in a short write
    transaction of its own after it (at most once a minute per key)."""
    stamp = update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now)
    if is_read_only(session):
        write_after(session, lambda writer: writer.execute(
            stamp, execution_options={"synchronize_session": False}))
    else:
        session.execute(stamp, execution_options={"synchronize_session": False})
