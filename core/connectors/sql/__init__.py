"""SQL databases (PostgreSQL, MariaDB/MySQL, SQLite) through SQLAlchemy.

The connection holds a SQLAlchemy URL *without* its password, and the password as a secret
setting: the URL stays readable and editable in the dashboard while only the password is
encrypted at rest and masked. Every table or view with a date or timestamp column becomes a
template (found by reflection); a custom query the user writes becomes a template of its own.
Selected columns, the window and filters are pushed down into SQL with quoted identifiers and
bound values, and rows stream through a server-side cursor in chunks.

- `connector`: the `SqlDatabase` connector: settings, reflection, templates, streaming rows.
- `engine`: the URL (default drivers, the password), the engine, how messages name the database.
- `query`: the SELECT of one fetch, with the fields, the account, the window and the filters.
- `custom_queries`: custom queries as templates: their name, their spec, sampling their types.
- `driver_errors`: a driver's error as a SourceError (or TransientError) saying what to fix.
"""

from core.connectors.sql.connector import SqlDatabase

__all__ = ["SqlDatabase"]
