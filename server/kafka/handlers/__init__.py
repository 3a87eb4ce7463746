"""Importing this package registers every API handler module into server.kafka.dispatch."""

from server.kafka.handlers import api_versions, groups, metadata, offsets, transactions  # noqa: F401
