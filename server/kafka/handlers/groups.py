"""The consumer-group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
ListGroups, DescribeGroups, DeleteGroups (the state machine is server.kafka.groups).

This broker coordinates every group and every transactional id. Groups without members
but with committed offsets (after a restart, or the engine's own query groups) are listed
and described as Empty, as Kafka does.
"""

from __future__ import annotations

import asyncio

from kafka.protocol.admin.groups import (
    DeleteGroupsRequest,
    DeleteGroupsResponse,
    DescribeGroupsRequest,
    DescribeGroupsResponse,
    ListGroupsRequest,
    ListGroupsResponse,
)
from kafka.protocol.consumer.group import (
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupRequest,
    LeaveGroupResponse,
    SyncGroupRequest,
    SyncGroupResponse,
)
from kafka.protocol.metadata.find_coordinator import FindCoordinatorRequest, FindCoordinatorResponse

from server.kafka import groups as g
from server.kafka.broker import Broker
from server.kafka.dispatch import Connection, handles

INVALID_REQUEST = 42
COORDINATOR_TYPES = (0, 1)  # group, transaction


@handles(FindCoordinatorRequest, FindCoordinatorResponse, 0, 5)
async def find_coordinator(broker: Broker, request: FindCoordinatorRequest,
                           conn: Connection) -> FindCoordinatorResponse:
    version = request.API_VERSION
    key_type = request.key_type if version >= 1 else 0
    error = 0 if key_type in COORDINATOR_TYPES else INVALID_REQUEST
    message = None if error == 0 else f"unknown coordinator key type {key_type}"
    if version >= 4:
        return FindCoordinatorResponse(version=version, throttle_time_ms=0, coordinators=[
            FindCoordinatorResponse.Coordinator(key=key, node_id=broker.node_id, host=broker.host,
                                                port=broker.port, error_code=error, error_message=message)
            for key in request.coordinator_keys])
    return FindCoordinatorResponse(version=version, throttle_time_ms=0, error_code=error, error_message=message,
                                   node_id=broker.node_id, host=broker.host, port=broker.port)


@handles(JoinGroupRequest, JoinGroupResponse, 0, 9)
async def join_group(broker: Broker, request: JoinGroupRequest, conn: Connection) -> JoinGroupResponse:
    version = request.API_VERSION
    result = await broker.groups.join(
        request.group_id, request.member_id, request.group_instance_id if version >= 5 else None,
        conn.client_id or "", "/" + conn.peer.rpartition(":")[0], request.session_timeout_ms,
        request.rebalance_timeout_ms if version >= 1 else -1, request.protocol_type,
        [(p.name, bytes(p.metadata)) for p in request.protocols])
    return JoinGroupResponse(
        version=version, throttle_time_ms=0, error_code=result.error, generation_id=result.generation,
        protocol_type=result.protocol_type, protocol_name=result.protocol_name if result.error == 0 else None,
        leader=result.leader, skip_assignment=False, member_id=result.member_id,
        members=[JoinGroupResponse.JoinGroupResponseMember(member_id=mid, group_instance_id=iid, metadata=meta)
                 for mid, iid, meta in result.members])


@handles(SyncGroupRequest, SyncGroupResponse, 0, 5)
async def sync_group(broker: Broker, request: SyncGroupRequest, conn: Connection) -> SyncGroupResponse:
    version = request.API_VERSION
    result = await broker.groups.sync(
        request.group_id, request.generation_id, request.member_id,
        {a.member_id: bytes(a.assignment) for a in request.assignments or ()},
        request.protocol_type if version >= 5 else None, request.protocol_name if version >= 5 else None)
    return SyncGroupResponse(version=version, throttle_time_ms=0, error_code=result.error,
                             protocol_type=result.protocol_type, protocol_name=result.protocol_name,
                             assignment=result.assignment)


@handles(HeartbeatRequest, HeartbeatResponse, 0, 4)
async def heartbeat(broker: Broker, request: HeartbeatRequest, conn: Connection) -> HeartbeatResponse:
    error = broker.groups.heartbeat(request.group_id, request.generation_id, request.member_id)
    return HeartbeatResponse(version=request.API_VERSION, throttle_time_ms=0, error_code=error)


@handles(LeaveGroupRequest, LeaveGroupResponse, 0, 5)
async def leave_group(broker: Broker, request: LeaveGroupRequest, conn: Connection) -> LeaveGroupResponse:
    version = request.API_VERSION
    if version < 3:
        error = broker.groups.leave(request.group_id, request.member_id)
        return LeaveGroupResponse(version=version, throttle_time_ms=0, error_code=error)
    return LeaveGroupResponse(version=version, throttle_time_ms=0, error_code=0, members=[
        LeaveGroupResponse.MemberResponse(member_id=m.member_id, group_instance_id=m.group_instance_id,
                                          error_code=broker.groups.leave(request.group_id, m.member_id))
        for m in request.members])


def _listing(broker: Broker) -> dict[str, tuple[str, str]]:
    """group id -> (state, protocol type) of every group with members or committed offsets."""
    listed = {gid: (g.GroupState.EMPTY.value, "consumer") for gid in broker.log.groups()}
    for gid, group in broker.groups.active().items():
        listed[gid] = (group.state.value, group.protocol_type or "")
    return listed


@handles(ListGroupsRequest, ListGroupsResponse, 0, 5)
async def list_groups(broker: Broker, request: ListGroupsRequest, conn: Connection) -> ListGroupsResponse:
    version = request.API_VERSION
    states = {s.lower() for s in request.states_filter or ()} if version >= 4 else set()
    types = {t.lower() for t in request.types_filter or ()} if version >= 5 else set()
    groups = [ListGroupsResponse.ListedGroup(group_id=gid, protocol_type=ptype, group_state=state,
                                             group_type="classic")
              for gid, (state, ptype) in sorted(_listing(broker).items())
              if (not states or state.lower() in states) and (not types or "classic" in types)]
    return ListGroupsResponse(version=version, throttle_time_ms=0, error_code=0, groups=groups)


@handles(DescribeGroupsRequest, DescribeGroupsResponse, 0, 5)
async def describe_groups(broker: Broker, request: DescribeGroupsRequest,
                          conn: Connection) -> DescribeGroupsResponse:
    described = []
    for gid in request.groups:
        d = broker.groups.describe(gid)
        state, ptype = d.state, d.protocol_type
        if not d.members and gid in broker.log.groups():
            state, ptype = g.GroupState.EMPTY.value, "consumer"
        described.append(DescribeGroupsResponse.DescribedGroup(
            error_code=0, group_id=gid, group_state=state, protocol_type=ptype, protocol_data=d.protocol_name,
            authorized_operations=None, members=[
                DescribeGroupsResponse.DescribedGroup.DescribedGroupMember(
                    member_id=m.member_id, group_instance_id=m.group_instance_id, client_id=m.client_id,
                    client_host=m.client_host, member_metadata=m.metadata, member_assignment=m.assignment)
                for m in d.members]))
    return DescribeGroupsResponse(version=request.API_VERSION, throttle_time_ms=0, groups=described)


@handles(DeleteGroupsRequest, DeleteGroupsResponse, 0, 2)
async def delete_groups(broker: Broker, request: DeleteGroupsRequest, conn: Connection) -> DeleteGroupsResponse:
    results = []
    for gid in request.groups_names:
        known = gid in broker.groups.groups
        error = broker.groups.delete(gid)
        if error == 0:
            had_offsets = await asyncio.to_thread(broker.log.delete_group, gid)
            if not (known or had_offsets):
                error = g.GROUP_ID_NOT_FOUND
        results.append(DeleteGroupsResponse.DeletableGroupResult(group_id=gid, error_code=error))
    return DeleteGroupsResponse(version=request.API_VERSION, throttle_time_ms=0, results=results)
