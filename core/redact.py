"""Secrets out of every text the product keeps or shows: run errors and logs, tracebacks,
worker output, API answers. A source that echoes its URL (`?api_key=...`) or a driver that
prints its connection string must not put a connection's secret into the database or a log.

Every secret value of the connection is replaced by MASK, as written and in the forms it
travels in: URL-encoded, and as the base64 of an HTTP Basic `user:password`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from urllib.parse import quote, quote_plus

MASK = "••••"
SHORTEST = 4  # shorter values (a port, "on") would mask ordinary words


class Redactor:
    """Masks the secrets of one connection in any text."""

    def __init__(self, secrets: Mapping[str, object], user: str | None = None) -> None:
        forms: set[str] = set()
        for value in secrets.values():
            text = str(value) if value is not None else ""
            if len(text) < SHORTEST:
                continue
            forms.update({text, quote(text, safe=""), quote_plus(text)})
            if user:
                forms.add(base64.b64encode(f"{user}:{text}".encode()).decode())
        # Longest first: a secret that contains another is masked whole.
        self.forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str | None) -> str | None:
        if not text or not self.forms:
            return text
        for form in self.forms:
            text = text.replace(form, MASK)
        return text


NOTHING = Redactor({})
