"""Shapes that exist only over HTTP: pages with links, the run request and answer."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field

from core import schemas

T = TypeVar("T")


# The page query parameters of every paged list.
PageNumber = Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1.")]
PageSize = Annotated[int, Query(ge=1, le=1000, description="Items per page.")]


class Paginated(BaseModel, Generic[T]):
    """One page of a list, as Improvado pages: count, next/previous links, results."""

    count: int = Field(description="Items in all pages together.")
    next: str | None = Field(description="URL of the next page; null on the last.")
    previous: str | None = Field(description="URL of the previous page; null on the first.")
    results: list[T]


def paginated(request: Request, items: list[T], *, count: int, page: int, page_size: int
              ) -> Paginated[T]:
    """A page of `items` with links to its neighbours."""
    has_next = page * page_size < count
    return Paginated[T](
        count=count,
        next=str(request.url.include_query_params(page=page + 1)) if has_next else None,
        previous=str(request.url.include_query_params(page=page - 1)) if page > 1 else None,
        results=items,
    )


class RunRequest(BaseModel):
    """The optional body of POST /api/v3/extracts/{id}/run: an inclusive date window."""

    model_config = ConfigDict(extra="forbid")

    date_from: date | None = Field(
        default=None, description="First day to load; default: date_to - lookback + 1.")
    date_to: date | None = Field(default=None, description="Last day to load; default: today.")


class ExtractRunOut(schemas.ExtractOut):
    """The extract after queueing a run (status `syncing`) and the ids of the queued runs."""

    run_ids: list[int]
    already_queued_run_ids: list[int] = Field(
        default_factory=list, description="Those of run_ids that were queued already for "
        "the same window: the request joined them instead of loading the window twice.")


Row = dict[str, Any]
