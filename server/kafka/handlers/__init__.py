"""Importing this package registers every API handler module into server.kafka.dispatch."""

from server.kafka.handlers import (  # noqa: F401
    api_versions,
    configs,
    fetch,
    groups,
    list_offsets,
    metadata,
    offsets,
    produce,
    producer_ids,
    sasl,
    topics,
    transactions,
)
