"""InitProducerId for idempotent producers (no transactional id): a new producer id at epoch 0, or
the same id at the next epoch when a producer asks to bump its own after an error (v3+).

A transactional id is the transaction coordinator's (server.kafka.transactions): the same
producer id at the next epoch for each new producer of that id, which fences the older one.
"""

from __future__ import annotations

from kafka.errors import InvalidProducerEpochError
from kafka.protocol.producer import InitProducerIdRequest, InitProducerIdResponse

from server.kafka.broker import Broker
from server.kafka.dispatch import Connection, handles
from server.kafka.transactions import PRODUCER_FENCED

MAX_EPOCH = 32767


@handles(InitProducerIdRequest, InitProducerIdResponse, 0, 4)
async def init_producer_id(broker: Broker, request: InitProducerIdRequest, conn: Connection
                           ) -> InitProducerIdResponse:
    reply = InitProducerIdResponse(version=request.API_VERSION, throttle_time_ms=0, error_code=0,
                                   producer_id=-1, producer_epoch=-1)
    if request.transactional_id is not None:
        v3 = request.API_VERSION >= 3
        error, reply.producer_id, reply.producer_epoch = await broker.transactions.init_producer_id(
            request.transactional_id, request.transaction_timeout_ms, request.producer_id if v3 else -1,
            request.producer_epoch if v3 else -1)
        reply.error_code = InvalidProducerEpochError.errno if error == PRODUCER_FENCED and \
            request.API_VERSION < 4 else error  # PRODUCER_FENCED is new in v4 (KIP-588)
    elif request.producer_id >= 0 and 0 <= request.producer_epoch < MAX_EPOCH:
        reply.producer_id, reply.producer_epoch = request.producer_id, request.producer_epoch + 1
    else:
        reply.producer_id, reply.producer_epoch = broker.producer_ids.new(), 0
    return reply
