"""Importing this package registers every API handler module into server.kafka.dispatch."""

from server.kafka.handlers import api_versions, fetch, list_offsets, metadata, produce  # noqa: F401
