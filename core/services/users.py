"""People who sign in, their roles, and the actor each acts as.

The identity provider says who someone is (OpenID Connect, through the dashboard); the
`users` table says what they may do. The first sign-in of an email listed in
EXTRACTS_ADMIN_EMAILS makes an admin; anyone else starts as EXTRACTS_DEFAULT_ROLE.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import audit, errors, schemas
from core.clock import utcnow
from core.db import database_of
from core.models import User
from core.services.common import load
from core.vocabulary import ActorKind, Role

# last_seen_at is written at most this often, so page views do not all turn into writes.
SEEN_RESOLUTION = timedelta(minutes=1)
LOCAL_USER = "local"  # the one user of single-user mode (no identity provider)


def _user_out(user: User) -> schemas.UserOut:
    return schemas.UserOut(id=user.id, email=user.email, name=user.name, role=Role(user.role),
                           created_at=user.created_at, last_seen_at=user.last_seen_at)


def actor_for(user: schemas.UserOut) -> schemas.Actor:
    """The actor a signed-in user's changes are made (and logged) as."""
    return schemas.Actor(kind=ActorKind.USER, name=user.email, role=user.role,
                         user_id=user.id)


def sign_in(*, session: Session, email: str, name: str = "", now: datetime | None = None
            ) -> schemas.UserOut:
    """The user an identity provider vouched for, created on first sign-in (an admin if their
    email is in EXTRACTS_ADMIN_EMAILS, else EXTRACTS_DEFAULT_ROLE); notes when they were seen."""
    now = now or utcnow()
    address = email.strip().lower()
    if "@" not in address and address != LOCAL_USER:
        raise errors.Invalid(f"{email!r} is not an email address; the identity provider must "
                             "send an email claim", field="email")
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        settings = database_of(session).settings
        role = Role.ADMIN if address in settings.admin_emails or address == LOCAL_USER \
            else settings.default_role
        user = User(email=address, name=name.strip()[:200], role=role, created_at=now)
        session.add(user)
    elif name.strip() and user.name != name.strip()[:200]:
        user.name = name.strip()[:200]
    if user.last_seen_at is None or now - user.last_seen_at >= SEEN_RESOLUTION:
        user.last_seen_at = now
    session.flush()
    return _user_out(user)


def list_users(*, session: Session) -> list[schemas.UserOut]:
    """Everyone who has signed in, by email."""
    return [_user_out(u) for u in session.scalars(select(User).order_by(User.email))]


def set_user_role(*, session: Session, user_id: int, role: Role | str) -> schemas.UserOut:
    """Give a user another role (admins only); the last admin cannot step down."""
    audit.require(session, Role.ADMIN, "changing roles")
    user = load(session, User, user_id, "user")
    try:
        wanted = Role(role)
    except ValueError:
        raise errors.Invalid(f"{role!r} is not a role; use one of "
                             f"{', '.join(r.value for r in Role)}", field="role") from None
    if user.role == Role.ADMIN and wanted != Role.ADMIN:
        admins = session.scalar(select(func.count()).select_from(User)
                                .where(User.role == Role.ADMIN))
        if admins == 1:
            raise errors.Conflict(f"{user.email} is the last admin; make another user admin "
                                  "first")
    user.role = wanted
    session.flush()
    return _user_out(user)
