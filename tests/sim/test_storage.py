"""Onboard storage: ordering, overflow, retransmission; accounting identity under random operations."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.storage import OnboardStorage, StorageItem


def item(scene: str, idx: int, n: int, prio: int = 0, apid: int = 0) -> StorageItem:
    return StorageItem(scene, idx, n, prio, float(idx), apid)


def test_priority_then_fifo_order_and_whole_items():
    s = OnboardStorage(10_000)
    for i, (n, p) in enumerate([(100, 0), (100, 2), (100, 1), (100, 2), (100, 0)]):
        s.enqueue(item("s", i, n, p))
    out = s.drain(350)
    assert [(i.chunk_index, i.priority) for i in out] == [(1, 2), (3, 2), (2, 1)]
    assert s.bytes_in_flight == 300 and s.bytes_waiting == 200
    s.check()


def test_strict_order_blocks_unless_bypass():
    s = OnboardStorage(10_000)
    s.enqueue(item("a", 0, 500, 1))
    s.enqueue(item("b", 0, 100, 0))
    assert s.drain(200) == []
    assert [i.scene_id for i in s.drain(200, allow_bypass=True)] == ["b"]


def test_overflow_is_reported_and_counted():
    s = OnboardStorage(1000)
    assert s.enqueue(item("a", 0, 800))
    assert not s.enqueue(item("a", 1, 300))
    assert s.enqueue(item("a", 2, 200))
    assert s.bytes_overflowed == 300 and s.items_overflowed == 1
    assert [i.chunk_index for i in s.overflowed] == [1]
    assert s.bytes_generated == 1300 and s.bytes_lost == 300
    s.check()


def test_nak_requeues_at_front_and_in_flight_uses_memory():
    s = OnboardStorage(1000)
    for i in range(5):
        s.enqueue(item("a", i, 100))
    sent = s.drain(300)
    assert s.bytes_free == 500  # in-flight bytes still occupy the store
    s.acknowledge(sent[1:2])
    s.requeue([sent[0], sent[2]])
    assert s.bytes_retransmitted == 200
    assert [i.chunk_index for i in s.drain(1000)] == [0, 2, 3, 4]
    s.mark_lost(s.in_flight_items()[:1])
    assert s.bytes_lost_channel == 100 and s.bytes_delivered == 100
    s.check()
    with pytest.raises(ValueError, match="not in flight"):
        s.acknowledge([item("a", 1, 100)])
    with pytest.raises(ValueError, match="already generated"):
        s.enqueue(item("a", 0, 100))


ops = st.lists(
    st.one_of(
        st.tuples(st.just("enq"), st.integers(0, 400), st.integers(0, 3), st.integers(0, 2)),
        st.tuples(st.just("drain"), st.integers(0, 1200), st.booleans(), st.just(0)),
        st.tuples(st.just("ack"), st.integers(0, 10), st.just(0), st.just(0)),
        st.tuples(st.just("nak"), st.integers(0, 10), st.just(0), st.just(0)),
        st.tuples(st.just("lose"), st.integers(0, 10), st.just(0), st.just(0)),
    ),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(0, 3000), operations=ops)
def test_accounting_identity_and_nothing_silently_dropped(capacity, operations):
    s = OnboardStorage(capacity)
    generated: dict[tuple, int] = {}
    delivered: set[tuple] = set()
    for k, (op, a, b, c) in enumerate(operations):
        if op == "enq":
            it = StorageItem(f"s{k}", 0, a, b, float(k), c)
            generated[it.key] = a
            s.enqueue(it)
        elif op == "drain":
            s.drain(a, allow_bypass=b)
        elif op == "ack":
            batch = s.in_flight_items()[:a]
            delivered.update(i.key for i in batch)
            s.acknowledge(batch)
        elif op == "nak":
            s.requeue(s.in_flight_items()[:a])
        else:
            s.mark_lost(s.in_flight_items()[:a])
        assert s.check()
        assert s.bytes_generated == s.bytes_delivered + s.bytes_queued + s.bytes_lost
        assert 0 <= s.bytes_queued <= capacity
    # Every generated item is in exactly one place.
    waiting = {i.key for i in s.drain(10**12)}  # move everything waiting to in-flight to list it
    in_flight = {i.key for i in s.in_flight_items()}
    assert waiting <= in_flight
    over = {i.key for i in s.overflowed}
    lost = {i.key for i in s.lost}
    places = [delivered, in_flight, over, lost]
    for key in generated:
        assert sum(key in p for p in places) == 1, key
    assert sum(generated[k] for k in delivered) == s.bytes_delivered
    assert sum(generated[k] for k in over) == s.bytes_overflowed
    assert sum(generated[k] for k in lost) == s.bytes_lost_channel
    assert sum(generated.values()) == s.bytes_generated
