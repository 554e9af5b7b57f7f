"""Storing the templates a connection offers, and saying what a refresh changed.

A template or field that disappeared at the source is deleted when nothing uses it; while
extracts select it (or a data table was made from the template) it is kept and marked gone,
so that those extracts still read, show "schema changed", and can be edited or deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import drift, schemas
from core.connectors.base import TemplateSpec
from core.models import DataTable, Extract, Template


def _used_fields(extracts: list[Extract]) -> set[str]:
    return {name for e in extracts
            for name in [*e.fields, *(f.get("field") for f in e.filters)] if name}


def _owned(session: Session, datasource: str, owner: int | None) -> list[Template]:
    return list(session.scalars(select(Template).where(
        Template.datasource == datasource,
        Template.connection_id.is_(None) if owner is None else Template.connection_id == owner,
    ).order_by(Template.id)))


def _extracts_of(session: Session, template: Template) -> list[Extract]:
    return list(session.scalars(select(Extract).where(Extract.template_id == template.id)
                                .order_by(Extract.id)))


def store(session: Session, datasource: str, owner: int | None, specs: list[TemplateSpec],
          now: datetime) -> list[schemas.TemplateChange]:
    """Make the stored templates of `owner` (a connection, or None for the datasource's
    shared ones) those of `specs`; return what changed, template by template."""
    existing = {t.name: t for t in _owned(session, datasource, owner)}
    out: list[schemas.TemplateChange] = []
    for spec in specs:
        template = existing.pop(spec.name, None)
        if template is None:
            template = Template(datasource=datasource, connection_id=owner, name=spec.name)
            session.add(template)
            _fill(template, spec, [])
            session.flush()
            out.append(schemas.TemplateChange(template_id=template.id, name=spec.name,
                                              title=spec.title, change="added"))
            continue
        was_gone = template.gone_at is not None
        old = {f["name"]: f["type"] for f in template.fields if not f.get("gone")}
        new = {f.name: f.type for f in spec.fields}
        found = drift.changes(old, new)
        extracts = _extracts_of(session, template)
        used = _used_fields(extracts)
        keep = [{**f, "gone": True} for f in template.fields
                if f["name"] not in new and f["name"] in used]
        _fill(template, spec, keep)
        touched = {*found.removed, *(n for n, _, _ in found.retyped)}
        out.append(schemas.TemplateChange(
            template_id=template.id, name=spec.name, title=spec.title,
            change="changed" if found or was_gone else "unchanged",
            fields_added=found.added,
            fields_removed=[n for n in found.removed if n not in used],
            fields_gone=[n for n in found.removed if n in used],
            fields_retyped=[schemas.FieldTypeChange(name=n, old=o, new=t)
                            for n, o, t in found.retyped],
            extract_ids=[e.id for e in extracts if touched & set(e.fields)],
        ))
    for template in existing.values():
        extracts = _extracts_of(session, template)
        tables = session.scalar(select(DataTable.id).where(DataTable.template_id == template.id)
                                .limit(1))
        if extracts or tables is not None:
            if template.gone_at is None:
                template.gone_at = now
            change = "gone"
        else:
            session.delete(template)
            change = "removed"
        out.append(schemas.TemplateChange(
            template_id=template.id if change == "gone" else None, name=template.name,
            title=template.title, change=change, extract_ids=[e.id for e in extracts]))
    session.flush()
    return out


def _fill(template: Template, spec: TemplateSpec, gone: list[dict[str, Any]]) -> None:
    template.title = spec.title
    template.description = spec.description
    template.fields = [f.as_dict() for f in spec.fields] + gone
    template.date_field = spec.date_field
    template.default_fields = list(spec.default_fields)
    template.default_lookback_days = spec.default_lookback_days
    template.depth_limit_days = spec.depth_limit_days
    template.settings_schema = dict(spec.settings_schema)
    template.gone_at = None


def summary(changes: list[schemas.TemplateChange]) -> str:
    """The templates' changes in one line, for a notice or a log."""
    parts = []
    for c in changes:
        if c.change == "unchanged":
            continue
        if c.change in ("added", "removed"):
            parts.append(f"{c.title}: {c.change}")
        elif c.change == "gone":
            parts.append(f"{c.title}: gone from the source (kept: extract(s) "
                         f"{', '.join(map(str, c.extract_ids)) or 'none'} or a data table "
                         "use it)")
        else:
            found = drift.FieldChanges(added=c.fields_added,
                                       removed=c.fields_removed + c.fields_gone,
                                       retyped=[(r.name, r.old, r.new)
                                                for r in c.fields_retyped])
            text = f"{c.title}: {found.describe()}"
            if c.fields_gone:
                text += f" ({', '.join(c.fields_gone)} kept as gone: extracts select them)"
            if c.extract_ids:
                text += (f"; edit extract(s) {', '.join(map(str, c.extract_ids))}, which "
                         "select a removed or retyped field")
            parts.append(text)
    return "; ".join(parts) or "templates unchanged"
