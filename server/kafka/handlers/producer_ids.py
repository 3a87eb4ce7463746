"""InitProducerId for idempotent producers (no transactional id): a new producer id at epoch 0, or
the same id at the next epoch when a producer asks to bump its own after an error (v3+).

Transactional ids need a transaction coordinator, which is not part of this module: such
requests are refused with INVALID_REQUEST.
"""

from __future__ import annotations

from kafka.errors import InvalidRequestError
from kafka.protocol.producer import InitProducerIdRequest, InitProducerIdResponse

from server.kafka.broker import Broker
from server.kafka.dispatch import Connection, handles

MAX_EPOCH = 32767


@handles(InitProducerIdRequest, InitProducerIdResponse, 0, 4)
async def init_producer_id(broker: Broker, request: InitProducerIdRequest, conn: Connection
                           ) -> InitProducerIdResponse:
    reply = InitProducerIdResponse(version=request.API_VERSION, throttle_time_ms=0, error_code=0,
                                   producer_id=-1, producer_epoch=-1)
    if request.transactional_id is not None:
        reply.error_code = InvalidRequestError.errno
    elif request.producer_id >= 0 and 0 <= request.producer_epoch < MAX_EPOCH:
        reply.producer_id, reply.producer_epoch = request.producer_id, request.producer_epoch + 1
    else:
        reply.producer_id, reply.producer_epoch = broker.producer_ids.new(), 0
    return reply
