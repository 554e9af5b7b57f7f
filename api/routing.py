"""Routers that answer each path with and without a trailing slash, without a redirect.

Improvado writes some paths with a trailing slash and some without, and scripts mix them; a
307 redirect would do for GET, but most HTTP clients do not follow one for a POST.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter


class BothSlashesRouter(APIRouter):
    """An APIRouter whose every route also answers at its twin path (slash added or dropped);
    the twin is left out of the OpenAPI schema so the docs list each operation once."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, endpoint, **kwargs)
        twin = path[:-1] if path.endswith("/") else path + "/"
        name = kwargs.get("name") or endpoint.__name__
        super().add_api_route(twin, endpoint, **{**kwargs, "include_in_schema": False,
                                                 "name": f"{name}_other_slash"})
