"""Rows of filters: a field, an operator that fits its type, and a value widget of that type."""

from __future__ import annotations

from datetime import date
from typing import Any

import streamlit as st

from core import schemas
from core.vocabulary import LIST_VALUE, NO_VALUE, OPERATORS, Operator
from dashboard import widgets

OPERATOR_LABELS: dict[str, str] = {
    Operator.EQ: "=", Operator.NE: "≠", Operator.IN: "is one of", Operator.NOT_IN: "is none of",
    Operator.IS_NULL: "is empty", Operator.IS_NOT_NULL: "is not empty", Operator.GT: ">",
    Operator.GTE: "≥", Operator.LT: "<", Operator.LTE: "≤", Operator.BETWEEN: "between",
    Operator.CONTAINS: "contains", Operator.NOT_CONTAINS: "does not contain",
    Operator.STARTS_WITH: "starts with", Operator.ENDS_WITH: "ends with",
}


def parse_item(type_: str, text: str) -> Any:
    """One typed item of a comma-separated list; text that does not parse is passed on as
    text, so the service names what is wrong with it."""
    text = text.strip()
    try:
        if type_ == "integer":
            return int(text)
        if type_ == "number":
            return float(text)
    except ValueError:
        return text
    if type_ == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def plain(value: Any) -> Any:
    """A filter value as stored: dates as ISO text, lists item by item."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value.isoformat() if isinstance(value, date) else value


def scalar_input(type_: str, label: str, key: str, initial: Any = None) -> Any:
    """A widget that fits a field type, showing `initial` at first; returns its value."""
    if type_ == "integer":
        return st.number_input(label, value=int(initial or 0), step=1, key=key)
    if type_ == "number":
        return st.number_input(label, value=float(initial or 0.0), key=key)
    if type_ == "date":
        value = st.date_input(label, key=key, value=date.fromisoformat(initial)
                              if isinstance(initial, str) else "today")
        return value if isinstance(value, date) else None
    if type_ == "boolean":
        return st.selectbox(label, [True, False], key=key, index=0 if initial in (None, True)
                            else 1, format_func=lambda v: "true" if v else "false")
    placeholder = "2025-01-31T08:00:00" if type_ == "datetime" else None
    return st.text_input(label, key=key, placeholder=placeholder,
                         value="" if initial is None else str(initial))


def value_input(type_: str, operator: str, key: str, initial: Any = None) -> Any:
    """The value widget(s) an operator needs: none, a list, a pair or one value."""
    if operator in NO_VALUE:
        st.caption("No value needed.")
        return None
    if operator in LIST_VALUE:
        shown = ", ".join(map(str, initial)) if isinstance(initial, list) else ""
        text = st.text_input("Values, comma-separated", key=f"{key}_list", value=shown)
        return [parse_item(type_, part) for part in text.split(",") if part.strip()]
    if operator == Operator.BETWEEN:
        low, high = initial if isinstance(initial, list) and len(initial) == 2 else (None, None)
        with st.container(horizontal=True):
            return [scalar_input(type_, "From", f"{key}_low", low),
                    scalar_input(type_, "To", f"{key}_high", high)]
    return scalar_input(type_, "Value", key, initial)


def filter_rows(template: schemas.TemplateOut, slots: widgets.ProblemSlots, page: str, where: str,
                initial: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Editable filter rows for `template`, starting from `initial`; returns them as the
    service takes them."""
    initial = initial or []
    ids_key = f"{page}_filter_ids_{template.id}"
    if ids_key not in st.session_state:
        st.session_state[ids_key] = list(range(len(initial)))
    types = {f.name: f.type for f in template.fields}
    names = list(types)
    out = []
    for position, row in enumerate(list(st.session_state[ids_key])):
        first = initial[row] if row < len(initial) else {}
        prefix = f"{page}_filter_{template.id}_{row}"
        with st.container(horizontal=True, vertical_alignment="bottom"):
            name = st.selectbox("Field", names, key=f"{prefix}_field",
                                index=names.index(first["field"])
                                if first.get("field") in names else 0)
            type_ = types[name]
            operators = OPERATORS[type_]
            operator = st.selectbox("Operator", operators, key=f"{prefix}_op_{type_}",
                                    index=operators.index(first["operator"])
                                    if first.get("operator") in operators else 0,
                                    format_func=lambda o: OPERATOR_LABELS.get(o, o))
            value = value_input(type_, operator, f"{prefix}_value_{type_}_{operator}",
                                first.get("value"))
            st.button("Remove", icon=":material/delete:", key=f"{prefix}_remove",
                      on_click=widgets.remove_row, args=(ids_key, row))
        slots.here(f"{where}[{position}]")
        out.append({"field": name, "operator": operator, "value": value})
    if not out:
        st.caption("No filters: every row of the source is loaded.")
    st.button("Add filter", icon=":material/filter_alt:", key=f"{page}_filter_add",
              on_click=widgets.add_row, args=(ids_key,))
    return out
