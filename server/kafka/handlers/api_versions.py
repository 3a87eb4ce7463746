"""ApiVersions: the APIs registered in the dispatch table, with their version ranges."""

from __future__ import annotations

from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse

from server.kafka.broker import Broker
from server.kafka.dispatch import Connection, handles, supported_versions


@handles(ApiVersionsRequest, ApiVersionsResponse, 0, 4)
async def api_versions(broker: Broker, request: ApiVersionsRequest, conn: Connection) -> ApiVersionsResponse:
    return ApiVersionsResponse(
        version=request.API_VERSION, error_code=0, throttle_time_ms=0,
        api_keys=[ApiVersionsResponse.ApiVersion(api_key=key, min_version=lo, max_version=hi)
                  for key, lo, hi in supported_versions()])
