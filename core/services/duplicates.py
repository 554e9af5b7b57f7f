"""Before an extract is made: does one exist already that would load the very same rows?"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import errors, filters, schemas
from core.models import DataTable, Extract, Template
from core.services.common import field_specs


def _key(fields: list[str], checked_filters: list[Any]) -> str:
    return json.dumps([sorted(fields), checked_filters], sort_keys=True, default=str)


def find_duplicates(*, session: Session, data: schemas.ExtractCreate | dict[str, Any]
                    ) -> dict[int, str]:
    """Existing extracts (id -> title) a create body would repeat: the same account,
    template, fields, filters and data table. Empty when none, or when the body is invalid
    (creating it then names every problem)."""
    try:
        body = schemas.parse(schemas.ExtractCreate, data)
    except errors.Invalid:
        return {}
    template = session.get(Template, body.template_id)
    table = session.scalar(select(DataTable).where(
        DataTable.title == body.data_table_title.strip()))
    if template is None or table is None:
        return {}
    specs = field_specs(template)
    wanted_filters = []
    for i, raw in enumerate(body.template_settings.filters):
        item, problems = filters.check(raw.model_dump(), specs, f"filters[{i}]")
        if problems or item is None:
            return {}
        wanted_filters.append(filters.to_json(item))
    required = [name for name, spec in specs.items() if spec.required]
    wanted = _key(list({*body.template_settings.fields, *required}), wanted_filters)
    found = session.scalars(select(Extract).where(
        Extract.account_id.in_(body.accounts), Extract.template_id == template.id,
        Extract.data_table_id == table.id).order_by(Extract.id))
    return {e.id: e.title for e in found
            if _key(list({*e.fields, *required}), list(e.filters)) == wanted}
