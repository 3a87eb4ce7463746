"""Kafka's classic consumer-group protocol: members, generations and rebalances of one broker.

A group moves Empty -> PreparingRebalance -> CompletingRebalance -> Stable and back, as in
Kafka's GroupCoordinator:
- a JoinGroup of a new member (or of a member whose subscription changed, or of the leader)
  starts a rebalance: every known member must join again within the rebalance timeout
  (the largest of the members'); whoever has not by then is dropped. When all have, the
  generation goes up, a protocol every member supports is chosen, and the joins are
  answered, the leader's with every member's subscription;
- the leader's SyncGroup carries the assignment of every member; the other members' SyncGroup
  waits for it;
- a member not heard from (Heartbeat, JoinGroup, SyncGroup) within its session timeout is
  dropped, and so is one that leaves (LeaveGroup); either starts a rebalance of the others,
  who learn of it from their heartbeat (REBALANCE_IN_PROGRESS) and join again.

State lives in memory only: after a restart every client joins again (its heartbeat gets
UNKNOWN_MEMBER_ID), and what must survive, the committed offsets, is in the log.
Everything runs on the Kafka listener's event loop; nothing here blocks.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

# Kafka error codes used by the group APIs
NONE = 0
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69

MIN_SESSION_TIMEOUT_MS = 1_000  # group.min.session.timeout.ms (Kafka's default is 6 s)
MAX_SESSION_TIMEOUT_MS = 1_800_000  # group.max.session.timeout.ms


class GroupState(Enum):
    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


@dataclass
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]  # (name, subscription metadata), in the member's preference order
    assignment: bytes = b""
    joining: asyncio.Future | None = None  # a JoinGroup waiting for the rebalance to complete
    syncing: asyncio.Future | None = None  # a SyncGroup waiting for the leader's assignment
    expiry: asyncio.TimerHandle | None = None

    def metadata(self, protocol: str) -> bytes:
        return next(meta for name, meta in self.protocols if name == protocol)

    def supports(self, protocols: set[str]) -> bool:
        return any(name in protocols for name, _ in self.protocols)


@dataclass
class Group:
    group_id: str
    state: GroupState = GroupState.EMPTY
    generation: int = 0
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str | None = None
    members: dict[str, Member] = field(default_factory=dict)  # in joining order
    rebalance_deadline: asyncio.TimerHandle | None = None

    def candidate_protocols(self) -> set[str]:
        """The protocols every member supports."""
        common: set[str] | None = None
        for m in self.members.values():
            names = {name for name, _ in m.protocols}
            common = names if common is None else common & names
        return common or set()


@dataclass(frozen=True)
class JoinResult:
    error: int
    member_id: str
    generation: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    members: Sequence[tuple[str, str | None, bytes]] = ()  # (member id, instance id, metadata): leader only


@dataclass(frozen=True)
class SyncResult:
    error: int
    assignment: bytes = b""
    protocol_type: str | None = None
    protocol_name: str | None = None


@dataclass(frozen=True)
class MemberDescription:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@dataclass(frozen=True)
class GroupDescription:
    group_id: str
    state: str
    protocol_type: str
    protocol_name: str
    members: list[MemberDescription]


class GroupCoordinator:
    """The groups of this broker (it coordinates every group)."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}

    # ------------------------------------------------------------------ JoinGroup

    async def join(self, group_id: str, member_id: str, group_instance_id: str | None, client_id: str,
                   client_host: str, session_timeout_ms: int, rebalance_timeout_ms: int,
                   protocol_type: str, protocols: list[tuple[str, bytes]]) -> JoinResult:
        """JoinGroup: returns when the rebalance this join takes part in completes."""
        if not group_id:
            return JoinResult(INVALID_GROUP_ID, member_id)
        if not MIN_SESSION_TIMEOUT_MS <= session_timeout_ms <= MAX_SESSION_TIMEOUT_MS:
            return JoinResult(INVALID_SESSION_TIMEOUT, member_id)
        group = self.groups.get(group_id)
        if group is None:
            if member_id:
                return JoinResult(UNKNOWN_MEMBER_ID, member_id)
            group = self.groups[group_id] = Group(group_id)
        if not protocols or (group.members and (
                protocol_type != group.protocol_type
                or not group.candidate_protocols() & {name for name, _ in protocols})):
            return JoinResult(INCONSISTENT_GROUP_PROTOCOL, member_id)
        if member_id and member_id not in group.members:
            return JoinResult(UNKNOWN_MEMBER_ID, member_id)
        if rebalance_timeout_ms < 0:  # JoinGroup v0 has none: the session timeout serves
            rebalance_timeout_ms = session_timeout_ms
        loop = asyncio.get_running_loop()
        if not member_id:
            member_id = f"{client_id or 'member'}-{uuid.uuid4()}"
            member = Member(member_id, group_instance_id, client_id, client_host, session_timeout_ms,
                            rebalance_timeout_ms, protocol_type, protocols)
            group.members[member_id] = member
            if group.protocol_type is None:
                group.protocol_type = protocol_type
            self._prepare_rebalance(group)
        else:
            member = group.members[member_id]
            changed = member.protocols != protocols
            member.protocols = protocols
            member.session_timeout_ms = session_timeout_ms
            member.rebalance_timeout_ms = rebalance_timeout_ms
            member.client_id, member.client_host = client_id, client_host
            if group.state is GroupState.STABLE and not changed and member_id != group.leader:
                self._touch(group, member)
                return self._join_result(group, member)  # a follower's rejoin that changes nothing
            if group.state is GroupState.COMPLETING_REBALANCE and not changed:
                self._touch(group, member)
                return self._join_result(group, member)  # it missed our answer: the same one again
            if group.state is not GroupState.PREPARING_REBALANCE:
                self._prepare_rebalance(group)
        if member.joining is not None:  # a retried join replaces the one still waiting
            member.joining.set_result(JoinResult(UNKNOWN_MEMBER_ID, member_id))
        member.joining = loop.create_future()
        if member.expiry is not None:  # a member waiting in a join is kept until the rebalance ends
            member.expiry.cancel()
            member.expiry = None
        waiting = member.joining
        self._maybe_complete_join(group)
        return await waiting

    def _join_result(self, group: Group, member: Member) -> JoinResult:
        leader = member.member_id == group.leader
        members = [(m.member_id, m.group_instance_id, m.metadata(group.protocol_name or ""))
                   for m in group.members.values()] if leader else []
        return JoinResult(NONE, member.member_id, group.generation, group.protocol_type, group.protocol_name,
                          group.leader or "", members)

    def _prepare_rebalance(self, group: Group) -> None:
        """Every member must join again; those that have not by the rebalance timeout are dropped."""
        if group.state is GroupState.COMPLETING_REBALANCE:  # syncs of the old generation are over
            for m in group.members.values():
                if m.syncing is not None and not m.syncing.done():
                    m.syncing.set_result(SyncResult(REBALANCE_IN_PROGRESS))
                m.syncing = None
        group.state = GroupState.PREPARING_REBALANCE
        if group.rebalance_deadline is not None:
            group.rebalance_deadline.cancel()
        timeout_ms = max((m.rebalance_timeout_ms for m in group.members.values()), default=0)
        group.rebalance_deadline = asyncio.get_running_loop().call_later(
            timeout_ms / 1000, self._complete_join, group)

    def _maybe_complete_join(self, group: Group) -> None:
        if group.state is GroupState.PREPARING_REBALANCE and all(
                m.joining is not None for m in group.members.values()):
            self._complete_join(group)

    def _complete_join(self, group: Group) -> None:
        """End the rebalance: drop the members that did not join, start the next generation."""
        if group.state is not GroupState.PREPARING_REBALANCE:
            return
        if group.rebalance_deadline is not None:
            group.rebalance_deadline.cancel()
            group.rebalance_deadline = None
        for m in [m for m in group.members.values() if m.joining is None]:
            self._forget(group, m)
        group.generation += 1
        if not group.members:
            group.state = GroupState.EMPTY
            group.protocol_type = group.protocol_name = group.leader = None
            return
        group.protocol_name = self._choose_protocol(group)
        if group.leader not in group.members:
            group.leader = next(iter(group.members))
        group.state = GroupState.COMPLETING_REBALANCE
        for m in group.members.values():
            m.assignment = b""
            joining, m.joining = m.joining, None
            if joining is not None and not joining.done():
                joining.set_result(self._join_result(group, m))
            self._touch(group, m)

    @staticmethod
    def _choose_protocol(group: Group) -> str:
        """The common protocol most members prefer (each votes for its first supported candidate)."""
        candidates = group.candidate_protocols()
        votes: dict[str, int] = {}
        for m in group.members.values():
            choice = next(name for name, _ in m.protocols if name in candidates)
            votes[choice] = votes.get(choice, 0) + 1
        return max(votes, key=lambda name: votes[name])

    # ------------------------------------------------------------------ SyncGroup

    async def sync(self, group_id: str, generation: int, member_id: str,
                   assignments: dict[str, bytes], protocol_type: str | None = None,
                   protocol_name: str | None = None) -> SyncResult:
        """SyncGroup: the member's assignment, once the leader has sent everyone's."""
        group = self.groups.get(group_id)
        member = group.members.get(member_id) if group is not None else None
        if group is None or member is None:
            return SyncResult(UNKNOWN_MEMBER_ID)
        if generation != group.generation:
            return SyncResult(ILLEGAL_GENERATION)
        if ((protocol_type is not None and protocol_type != group.protocol_type)
                or (protocol_name is not None and protocol_name != group.protocol_name)):
            return SyncResult(INCONSISTENT_GROUP_PROTOCOL)
        if group.state is GroupState.PREPARING_REBALANCE:
            return SyncResult(REBALANCE_IN_PROGRESS)
        self._touch(group, member)
        if group.state is GroupState.STABLE:
            return self._sync_result(group, member)
        if member_id == group.leader:
            for m in group.members.values():
                m.assignment = assignments.get(m.member_id, b"")
            group.state = GroupState.STABLE
            for m in group.members.values():
                if m.syncing is not None and not m.syncing.done():
                    m.syncing.set_result(self._sync_result(group, m))
                m.syncing = None
            return self._sync_result(group, member)
        if member.syncing is not None and not member.syncing.done():
            member.syncing.set_result(SyncResult(REBALANCE_IN_PROGRESS))
        member.syncing = asyncio.get_running_loop().create_future()
        return await member.syncing

    @staticmethod
    def _sync_result(group: Group, member: Member) -> SyncResult:
        return SyncResult(NONE, member.assignment, group.protocol_type, group.protocol_name)

    # ------------------------------------------------------------------ Heartbeat, LeaveGroup

    def heartbeat(self, group_id: str, generation: int, member_id: str) -> int:
        """Heartbeat: keeps the member alive; REBALANCE_IN_PROGRESS tells it to join again."""
        group = self.groups.get(group_id)
        member = group.members.get(member_id) if group is not None else None
        if group is None or member is None:
            return UNKNOWN_MEMBER_ID
        if generation != group.generation:
            return ILLEGAL_GENERATION
        self._touch(group, member)
        if group.state is GroupState.PREPARING_REBALANCE:
            return REBALANCE_IN_PROGRESS
        return NONE

    def leave(self, group_id: str, member_id: str) -> int:
        """LeaveGroup of one member: the others rebalance without it."""
        group = self.groups.get(group_id)
        member = group.members.get(member_id) if group is not None else None
        if group is None or member is None:
            return UNKNOWN_MEMBER_ID
        self._remove(group, member)
        return NONE

    def _touch(self, group: Group, member: Member) -> None:
        """The member was heard from: it stays for another session timeout."""
        if member.expiry is not None:
            member.expiry.cancel()
        member.expiry = asyncio.get_running_loop().call_later(
            member.session_timeout_ms / 1000, self._expire, group, member)

    def _expire(self, group: Group, member: Member) -> None:
        member.expiry = None
        if group.members.get(member.member_id) is member and member.joining is None:
            self._remove(group, member)

    def _remove(self, group: Group, member: Member) -> None:
        """Drop a member (it left or timed out) and rebalance the others."""
        if member.joining is not None and not member.joining.done():
            member.joining.set_result(JoinResult(UNKNOWN_MEMBER_ID, member.member_id))
        member.joining = None
        self._forget(group, member)
        if group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            if group.members:
                self._prepare_rebalance(group)
            else:
                group.state = GroupState.EMPTY
                group.generation += 1
                group.protocol_type = group.protocol_name = group.leader = None
        elif group.state is GroupState.PREPARING_REBALANCE:
            self._maybe_complete_join(group)

    @staticmethod
    def _forget(group: Group, member: Member) -> None:
        if member.expiry is not None:
            member.expiry.cancel()
            member.expiry = None
        if member.syncing is not None and not member.syncing.done():
            member.syncing.set_result(SyncResult(UNKNOWN_MEMBER_ID))
        member.syncing = None
        group.members.pop(member.member_id, None)

    # ------------------------------------------------------------------ offsets, admin

    def commit_error(self, group_id: str, generation: int, member_id: str) -> int:
        """Whether a member may commit offsets now (OffsetCommit / TxnOffsetCommit).

        A commit without a generation (-1) is a consumer outside group management (assign()),
        allowed while the group has no members."""
        group = self.groups.get(group_id)
        if group is None or not group.members:
            return NONE if generation < 0 else (UNKNOWN_MEMBER_ID if member_id else ILLEGAL_GENERATION)
        if generation < 0 and not member_id:
            return UNKNOWN_MEMBER_ID  # a group with members accepts only their commits
        member = group.members.get(member_id)
        if member is None:
            return UNKNOWN_MEMBER_ID
        if generation != group.generation:
            return ILLEGAL_GENERATION
        if group.state is not GroupState.STABLE:
            return REBALANCE_IN_PROGRESS
        self._touch(group, member)
        return NONE

    def state(self, group_id: str) -> GroupState:
        group = self.groups.get(group_id)
        return group.state if group is not None else GroupState.DEAD

    def describe(self, group_id: str) -> GroupDescription:
        group = self.groups.get(group_id)
        if group is None:
            return GroupDescription(group_id, GroupState.DEAD.value, "", "", [])
        stable = group.state is GroupState.STABLE
        return GroupDescription(
            group_id, group.state.value, group.protocol_type or "", group.protocol_name or "",
            [MemberDescription(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                               m.metadata(group.protocol_name) if group.protocol_name else b"",
                               m.assignment if stable else b"")
             for m in group.members.values()])

    def active(self) -> dict[str, Group]:
        """The groups with members."""
        return {gid: g for gid, g in self.groups.items() if g.members}

    def delete(self, group_id: str) -> int:
        """Forget a group without members (its offsets are the caller's to delete)."""
        group = self.groups.get(group_id)
        if group is not None and group.members:
            return NON_EMPTY_GROUP
        self.groups.pop(group_id, None)
        return NONE
