"""HTTP JSON APIs: one endpoint that returns records for a date window, page by page.

Auth by bearer token, API-key header, basic or a query parameter (the token and password are
secret settings, stored encrypted). The window goes out as two query parameters with names and
a date format of the user's choosing; pages are followed by page number, offset/limit, a cursor
in the body or the Link header; records are found at a dot path and nested objects flattened to
`parent.child` columns. The template's fields are learned from a sample of records that does
not depend on today (the first pages, or a sample window the user gives).

A 429 is waited out (Retry-After honoured) and retried; 5xx and timeouts are TransientError
(the worker retries the run); 401, 403 and 404 are SourceError that says what to fix.

- `connector`: the `HttpJson` connector: its settings, the template learned from a sample, fetch.
- `transport`: one GET: auth headers, sending, 429s waited out, statuses as errors.
- `pages`: the window's parameters and following the pages (page, offset, cursor, link).
- `records`: the records at a dot path of the body, nested objects flattened.
- `learn`: the fields' types from the sample (JSON numbers are `number`), `column_types`.
- `typed`: a chunk of records as an Arrow table of the fields' types; a value that does not
  fit names its field, the value and the record's date.
"""

from core.connectors.http_json.connector import HttpJson

__all__ = ["HttpJson"]
