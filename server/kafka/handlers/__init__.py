"""Importing this package registers every API handler module into server.kafka.dispatch."""

from server.kafka.handlers import (  # noqa: F401
    api_versions,
    configs,
    fetch,
    list_offsets,
    metadata,
    produce,
    producer_ids,
    topics,
)
