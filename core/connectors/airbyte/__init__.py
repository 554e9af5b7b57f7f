"""Airbyte Python sources from PyPI as a datasource (`airbyte`): spec, check, discover and
read over the Airbyte protocol (JSON messages on standard output). See
core/connectors/programs for the installer and the subprocess."""

from core.connectors.airbyte.connector import Airbyte

__all__ = ["Airbyte"]
