"""Importing this package registers every API handler module into server.kafka.dispatch."""

from server.kafka.handlers import api_versions, metadata  # noqa: F401
