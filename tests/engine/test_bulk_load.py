"""collector_paused: the cycle collector is off inside, back to what it was after, also when nested."""

from __future__ import annotations

import gc

from ksql.engine.bulk_load import collector_paused


def test_the_collector_is_paused_and_restored():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
