"""The datasources the product knows, by name."""

from __future__ import annotations

from core import clock, errors
from core.connectors.base import Connector
from core.connectors.files import Files
from core.connectors.http_json import HttpJson
from core.connectors.sample_ads import SampleAds
from core.connectors.sql import SqlDatabase

_CONNECTORS: dict[str, Connector] = {}


def register(connector: Connector) -> None:
    """Make a datasource available under its `name` (replacing one of the same name)."""
    _CONNECTORS[connector.name] = connector


def get(datasource: str) -> Connector:
    """The connector of `datasource`, or Invalid naming the known ones."""
    try:
        return _CONNECTORS[datasource]
    except KeyError:
        known = ", ".join(sorted(_CONNECTORS))
        raise errors.Invalid(f"unknown datasource {datasource!r}; known: {known}",
                             field="datasource") from None


def names() -> list[str]:
    """The names of every registered datasource."""
    return sorted(_CONNECTORS)


register(SampleAds())
register(SqlDatabase())
register(Files())
register(HttpJson(clock=clock.utcnow))
