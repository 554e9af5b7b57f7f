"""What workers share: deployment facts, the scheduler lease, Celery workers, fired schedules."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base


class AppState(Base):
    """Small facts about the deployment, e.g. that the demo connection was created once."""

    __tablename__ = "app_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")




SCHEDULER_LEASE = "scheduler"


class Lease(Base):
    """Who may do a once-per-deployment job (firing schedules), and until when."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class CeleryWorker(Base):
    """A live Celery worker and how many runs it executes at once (executor = celery); it
    renews `seen_at` while it lives, so the dispatcher and the dashboard can count them."""

    __tablename__ = "celery_workers"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    slots: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[datetime]


class ScheduleFire(Base):
    """The fire time a schedule last served, so that each fire time queues one run at most."""

    __tablename__ = "schedule_fires"

    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True
    )
    fired_at: Mapped[datetime]
