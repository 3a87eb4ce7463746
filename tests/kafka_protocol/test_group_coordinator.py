"""The consumer-group state machine (server.kafka.groups) without the wire."""

from __future__ import annotations

import asyncio

from server.kafka import groups as g
from server.kafka.groups import GroupCoordinator, GroupState

PROTOCOLS = [("range", b"sub-range"), ("roundrobin", b"sub-rr")]


def run(coro):
    return asyncio.run(coro)


async def join(coord: GroupCoordinator, member_id: str = "", *, session_ms: int = 10_000,
               rebalance_ms: int = 10_000, protocols=PROTOCOLS, group: str = "grp") -> g.JoinResult:
    return await coord.join(group, member_id, None, "client", "/127.0.0.1", session_ms, rebalance_ms,
                            "consumer", protocols)


def test_first_member_leads_and_syncs_its_own_assignment():
    async def scenario():
        coord = GroupCoordinator()
        first = await join(coord)
        assert (first.error, first.generation, first.protocol_name) == (g.NONE, 1, "range")
        assert first.leader == first.member_id
        assert [m[0] for m in first.members] == [first.member_id]
        assert first.members[0][2] == b"sub-range"
        assert coord.state("grp") is GroupState.COMPLETING_REBALANCE
        synced = await coord.sync("grp", 1, first.member_id, {first.member_id: b"p0-3"})
        assert (synced.error, synced.assignment) == (g.NONE, b"p0-3")
        assert coord.state("grp") is GroupState.STABLE
        assert coord.heartbeat("grp", 1, first.member_id) == g.NONE
    run(scenario())


def test_second_member_triggers_a_rebalance_that_waits_for_the_first():
    async def scenario():
        coord = GroupCoordinator()
        a = await join(coord)
        await coord.sync("grp", 1, a.member_id, {a.member_id: b"all"})
        b_join = asyncio.ensure_future(join(coord))
        await asyncio.sleep(0)
        assert coord.state("grp") is GroupState.PREPARING_REBALANCE
        assert not b_join.done()  # waits for the known member to join again
        assert coord.heartbeat("grp", 1, a.member_id) == g.REBALANCE_IN_PROGRESS
        assert (await coord.sync("grp", 1, a.member_id, {})).error == g.REBALANCE_IN_PROGRESS
        a2 = await join(coord, a.member_id)
        b = await b_join
        assert a2.generation == b.generation == 2
        assert a2.leader == a.member_id == b.leader
        assert {m[0] for m in a2.members} == {a.member_id, b.member_id}
        assert b.members == []  # only the leader gets the subscriptions
        b_sync = asyncio.ensure_future(coord.sync("grp", 2, b.member_id, {}))
        await asyncio.sleep(0)
        assert not b_sync.done()  # waits for the leader's assignment
        a_sync = await coord.sync("grp", 2, a.member_id, {a.member_id: b"p0,p1", b.member_id: b"p2,p3"})
        assert a_sync.assignment == b"p0,p1"
        assert (await b_sync).assignment == b"p2,p3"
        assert coord.heartbeat("grp", 1, a.member_id) == g.ILLEGAL_GENERATION
    run(scenario())


def test_leave_and_session_timeout_rebalance_the_rest():
    async def scenario():
        coord = GroupCoordinator()
        a = await join(coord, session_ms=1000)
        b_join = asyncio.ensure_future(join(coord, session_ms=1000))
        await asyncio.sleep(0)
        a = await join(coord, a.member_id, session_ms=1000)
        b = await b_join
        await asyncio.gather(coord.sync("grp", 2, a.member_id, {a.member_id: b"x", b.member_id: b"y"}),
                             coord.sync("grp", 2, b.member_id, {}))
        assert coord.leave("grp", a.member_id) == g.NONE
        assert coord.state("grp") is GroupState.PREPARING_REBALANCE
        b = await join(coord, b.member_id, session_ms=1000)  # the only member left: done at once
        assert (b.generation, b.leader) == (3, b.member_id)
        await coord.sync("grp", 3, b.member_id, {b.member_id: b"xy"})
        # b is never heard from again: its session times out and the group empties
        await asyncio.sleep(1.3)
        assert coord.state("grp") is GroupState.EMPTY
        assert coord.heartbeat("grp", 3, b.member_id) == g.UNKNOWN_MEMBER_ID
    run(scenario())


def test_members_that_do_not_rejoin_are_dropped_at_the_rebalance_timeout():
    async def scenario():
        coord = GroupCoordinator()
        a = await join(coord, rebalance_ms=300)
        await coord.sync("grp", 1, a.member_id, {})
        b = await asyncio.wait_for(join(coord, rebalance_ms=300), 5)  # a never joins again
        assert (b.generation, b.leader, [m[0] for m in b.members]) == (2, b.member_id, [b.member_id])
    run(scenario())


def test_protocol_choice_and_refusals():
    async def scenario():
        coord = GroupCoordinator()
        assert (await join(coord, group="")).error == g.INVALID_GROUP_ID
        assert (await join(coord, session_ms=10)).error == g.INVALID_SESSION_TIMEOUT
        assert (await join(coord, "ghost")).error == g.UNKNOWN_MEMBER_ID
        a = await join(coord, protocols=[("roundrobin", b"rr"), ("range", b"r")])
        assert a.protocol_name == "roundrobin"
        await coord.sync("grp", 1, a.member_id, {})
        assert (await join(coord, protocols=[("sticky", b"s")])).error == g.INCONSISTENT_GROUP_PROTOCOL
        assert (await coord.sync("grp", 1, a.member_id, {}, "consumer", "range")).error \
            == g.INCONSISTENT_GROUP_PROTOCOL
    run(scenario())


def test_commit_rules():
    async def scenario():
        coord = GroupCoordinator()
        assert coord.commit_error("free", -1, "") == g.NONE  # assign() outside group management
        assert coord.commit_error("free", 3, "m") == g.UNKNOWN_MEMBER_ID  # e.g. after a restart
        a = await join(coord)
        assert coord.commit_error("grp", 1, a.member_id) == g.REBALANCE_IN_PROGRESS
        await coord.sync("grp", 1, a.member_id, {})
        assert coord.commit_error("grp", 1, a.member_id) == g.NONE
        assert coord.commit_error("grp", 0, a.member_id) == g.ILLEGAL_GENERATION
        assert coord.commit_error("grp", 1, "other") == g.UNKNOWN_MEMBER_ID
        assert coord.commit_error("grp", -1, "") == g.UNKNOWN_MEMBER_ID
        assert coord.delete("grp") == g.NON_EMPTY_GROUP
        coord.leave("grp", a.member_id)
        assert coord.delete("grp") == g.NONE
        assert coord.describe("grp").state == "Dead"
    run(scenario())


def test_describe_shows_members_and_assignments():
    async def scenario():
        coord = GroupCoordinator()
        a = await join(coord)
        await coord.sync("grp", 1, a.member_id, {a.member_id: b"mine"})
        d = coord.describe("grp")
        assert (d.state, d.protocol_type, d.protocol_name) == ("Stable", "consumer", "range")
        assert [(m.member_id, m.client_id, m.metadata, m.assignment) for m in d.members] == [
            (a.member_id, "client", b"sub-range", b"mine")]
    run(scenario())


def test_last_member_leaving_empties_the_group():
    async def scenario():
        coord = GroupCoordinator()
        a = await join(coord)
        await coord.sync("grp", 1, a.member_id, {})
        coord.leave("grp", a.member_id)
        assert coord.describe("grp").state == "Empty"
        b = await join(coord)
        assert b.generation == 3 and b.leader == b.member_id
    run(scenario())
