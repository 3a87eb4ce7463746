"""SaslHandshake and SaslAuthenticate: SASL/PLAIN against the server's Basic-auth users (server.kafka.sasl)."""

from __future__ import annotations

import logging

from kafka.protocol.sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)

from server.kafka.broker import Broker
from server.kafka.dispatch import Connection, handles
from server.kafka.sasl import MECHANISM, PRINCIPAL

log = logging.getLogger("ksql.server.kafka")

ILLEGAL_SASL_STATE = 34
UNSUPPORTED_SASL_MECHANISM = 33
SASL_AUTHENTICATION_FAILED = 58


@handles(SaslHandshakeRequest, SaslHandshakeResponse, 1, 1)
async def sasl_handshake(broker: Broker, request: SaslHandshakeRequest, conn: Connection) -> SaslHandshakeResponse:
    mechanisms = [MECHANISM] if broker.sasl is not None else []
    error = 0 if request.mechanism in mechanisms else UNSUPPORTED_SASL_MECHANISM
    if error == 0:
        conn.state["sasl_mechanism"] = request.mechanism
    return SaslHandshakeResponse(version=request.API_VERSION, error_code=error, mechanisms=mechanisms)


@handles(SaslAuthenticateRequest, SaslAuthenticateResponse, 0, 2)
async def sasl_authenticate(broker: Broker, request: SaslAuthenticateRequest,
                            conn: Connection) -> SaslAuthenticateResponse:
    reply = SaslAuthenticateResponse(version=request.API_VERSION, error_code=0, error_message=None,
                                     auth_bytes=b"", session_lifetime_ms=0)
    if broker.sasl is None or conn.state.get("sasl_mechanism") != MECHANISM or PRINCIPAL in conn.state:
        reply.error_code = ILLEGAL_SASL_STATE
        reply.error_message = "SaslAuthenticate without a SaslHandshake for PLAIN first"
        return reply
    principal = broker.sasl.authenticate(bytes(request.auth_bytes))
    if principal is None:
        log.info("Kafka client %s: SASL/PLAIN authentication failed", conn.peer)
        reply.error_code = SASL_AUTHENTICATION_FAILED
        reply.error_message = "Authentication failed: invalid username or password"
    else:
        conn.state[PRINCIPAL] = principal
    return reply
