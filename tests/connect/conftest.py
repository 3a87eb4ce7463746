"""Fixtures of the connector tests: the databases of the JDBC connectors."""

from tests.connect.jdbc_helpers import db_url  # noqa: F401 - a fixture
from tests.connect.postgres_server import postgres_url  # noqa: F401 - a fixture
