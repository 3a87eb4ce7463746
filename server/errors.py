"""ksqlDB's error responses: the JSON entities, their error codes and the HTTP statuses that carry them.

Every failure a client can cause is answered with one of these, never with a
stack trace: `statement_error` for a statement the engine refused (with the
statement's text and the entities of the statements before it), `generic_error`
for everything else.
"""

from __future__ import annotations

import errno
import logging
from typing import Any

from ksql.engine.log import CorruptLogError, LogError

log = logging.getLogger("ksql.server")

# ksqlDB's error codes (io.confluent.ksql.rest.Errors): HTTP status * 100 + detail
BAD_REQUEST = 40000
BAD_STATEMENT = 40001
QUERY_ENDPOINT = 40002
UNAUTHORIZED = 40100
FORBIDDEN = 40300
NOT_FOUND = 40400
METHOD_NOT_ALLOWED = 40500
NOT_ACCEPTABLE = 40600
REQUEST_TOO_LARGE = 41300
UNSUPPORTED_MEDIA_TYPE = 41500
TOO_MANY_REQUESTS = 42900
SERVER_ERROR = 50000
SERVICE_UNAVAILABLE = 50300  # also ksqlDB's code while it shuts down
COMMAND_QUEUE_CATCHUP_TIMEOUT = 50301
SERVER_NOT_READY = 50303
INSUFFICIENT_STORAGE = 50700

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class ApiError(Exception):
    """A request the server refuses: HTTP status plus ksqlDB's error entity."""

    def __init__(self, status: int, error_code: int, message: str, statement: str | None = None,
                 entities: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.statement = statement
        self.entities = entities
        self.headers = headers or {}

    def entity(self) -> dict[str, Any]:
        if self.statement is not None:
            return statement_error(self.message, self.statement, self.entities or [], self.error_code)
        return generic_error(self.message, self.error_code)


def generic_error(message: str, error_code: int = SERVER_ERROR) -> dict[str, Any]:
    return {"@type": "generic_error", "error_code": error_code, "message": message}


def statement_error(message: str, statement: str, entities: list[dict[str, Any]] | None = None,
                    error_code: int = BAD_STATEMENT) -> dict[str, Any]:
    return {"@type": "statement_error", "error_code": error_code, "message": message,
            "statementText": statement, "entities": entities or []}


def storage_problem(err: BaseException) -> str:
    """What went wrong with the server's disk, for people: no file path, errno text or class name."""
    if isinstance(err, OSError) and err.errno in DISK_FULL:
        return "the server's disk is full"
    return "the server's disk reported an I/O error"


def storage_error(err: OSError, not_done: str, statement: str | None = None,
                  entities: list[dict[str, Any]] | None = None) -> ApiError:
    """A write the server's disk refused: 507 when it is full, 503 for another I/O error.

    `not_done` says what did not happen (e.g. "the statement was not applied.")."""
    if err.errno in DISK_FULL:
        return ApiError(507, INSUFFICIENT_STORAGE, f"{storage_problem(err)}: {not_done} Free space on the "
                                                   "server's disk, then retry.", statement, entities)
    return ApiError(503, SERVICE_UNAVAILABLE, f"{storage_problem(err)}: {not_done} Retry once the disk "
                                              "is healthy again.", statement, entities)


def bad_request(message: str) -> ApiError:
    return ApiError(400, BAD_REQUEST, message)


def bad_statement(message: str, statement: str, entities: list[dict[str, Any]] | None = None) -> ApiError:
    return ApiError(400, BAD_STATEMENT, message, statement, entities)


def log_error_message(err: LogError) -> str:
    """What a client is told of a log failure: damaged data is the server's business (its message names
    the segment file), so it is logged here and the client learns only what happened."""
    if isinstance(err, CorruptLogError):
        log.error("damaged log data: %s", err)
        return "The log holds damaged data for this topic (the details are in the server's log)"
    return str(err)
