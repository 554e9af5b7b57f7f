"""Schema drift: what changed between a template as stored and its source as it is now.

A refresh reports the changes of every template (fields added, removed, retyped). A run checks
the fields it selects before it fetches: one that is missing at the source, or whose type
changed, fails the run with a message naming the field and what to do; new columns at the
source are only reported on the run. The extract keeps the message (`schema_drift`) and shows
"schema changed" until a run passes the check or its fields or filters are edited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from core import errors
from core.connectors import registry
from core.connectors.base import ConnectionInfo, FetchRequest, TemplateSpec
from core.db import Database
from core.models import Extract


def refresh_hint(connection_id: int) -> str:
    """How to refresh a connection's templates, said the same way wherever drift is told."""
    return ("refresh the connection's templates (Connections page: Refresh accounts and "
            f"templates, or POST /api/v3/connections/{connection_id}/refresh)")


@dataclass(frozen=True)
class FieldChanges:
    """How a template's fields changed: added, removed, and retyped (name, old, new)."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    retyped: list[tuple[str, str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.retyped)

    def describe(self) -> str:
        """The changes in words: `added x; removed y; retyped z (integer -> number)`."""
        parts = []
        if self.added:
            parts.append(f"added {', '.join(self.added)}")
        if self.removed:
            parts.append(f"removed {', '.join(self.removed)}")
        if self.retyped:
            parts.append("retyped " + ", ".join(f"{n} ({old} -> {new})"
                                                for n, old, new in self.retyped))
        return "; ".join(parts) or "no changes"


def changes(old: Mapping[str, str], new: Mapping[str, str]) -> FieldChanges:
    """The changes from fields `old` to `new` (both name -> type)."""
    return FieldChanges(
        added=[n for n in new if n not in old],
        removed=[n for n in old if n not in new],
        retyped=[(n, t, new[n]) for n, t in old.items() if n in new and new[n] != t],
    )


def live_template(connection: ConnectionInfo, name: str) -> TemplateSpec | bool | None:
    """The template `name` as the source offers it now; None when the source no longer has
    it; False when the connector cannot tell without a full fetch (then there is no check).

    A connector may answer cheaply with `live_template(connection, name)` (one table instead
    of all of them) and return False there; without it, `templates()` is asked.
    """
    connector = registry.get(connection.datasource)
    own = getattr(connector, "live_template", None)
    if own is not None:
        found: TemplateSpec | bool | None = own(connection, name)
        return found
    return next((t for t in connector.templates(connection) if t.name == name), None)


def run_drift(request: FetchRequest, live: TemplateSpec | None) -> tuple[str | None, list[str]]:
    """The run's drift: the failure message (None when the selected fields are all there with
    their types) and the notes (new columns at the source)."""
    template = request.template
    stored = {f.name: f.type for f in template.fields}
    refresh = refresh_hint(request.connection.id)
    if live is None:
        return (f"schema changed: the source no longer has {template.title!r} (template "
                f"{template.name}); {refresh}, then create the extract on another template "
                "or delete it"), []
    found = {f.name: f.type for f in live.fields}
    selected = list(dict.fromkeys(request.fields))
    missing = [n for n in selected if n not in found]
    retyped = [(n, stored[n], found[n]) for n in selected
               if n in found and n in stored and found[n] != stored[n]]
    problems = [f"field {n} is missing at the source" for n in missing]
    problems += [f"field {n} changed type at the source from {old} to {new}"
                 for n, old, new in retyped]
    added = [n for n in found if n not in stored]
    notes = [f"the source has new column(s) {', '.join(added)}: refresh the connection's "
             "templates to offer them"] if added else []
    if not problems:
        return None, notes
    return ("schema changed: " + "; ".join(problems) + f"; {refresh}, then edit the extract"
            + (" (deselect the missing field)" if missing else
               " (a retyped field needs a new data table, or deselect it)")), notes


def check_run(*, db: Database, request: FetchRequest, extract_id: int) -> list[str]:
    """Check a run's selected fields against the source before it fetches; record the
    outcome on the extract. Raise SchemaChanged naming each field; return notes otherwise."""
    live = live_template(request.connection, request.template.name)
    message: str | None = None
    notes: list[str] = []
    if live is not False:
        message, notes = run_drift(request, live if isinstance(live, TemplateSpec) else None)
    with db.session() as session:
        extract = session.get(Extract, extract_id)
        if extract is not None and extract.schema_drift != message:
            extract.schema_drift = message
    if message is not None:
        raise errors.SchemaChanged(message)
    return notes
