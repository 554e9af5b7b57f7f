"""Singer taps from PyPI as a datasource (`singer`): `--discover`, `--catalog`, `--state`;
SCHEMA, RECORD and STATE messages. See core/connectors/programs for the shared plumbing."""

from core.connectors.singer.connector import Singer

__all__ = ["Singer"]
