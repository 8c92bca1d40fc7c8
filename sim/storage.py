"""Onboard mass memory: bounded store of coded chunks, priority queues, downlink and retransmission bookkeeping.

Life of an item (one coded chunk)::

    enqueue ──fits──▶ waiting ──drain──▶ in flight ──acknowledge──▶ delivered
       │                 ▲                   │
       └─full─▶ overflowed (lost)            ├──requeue (NAK)──▶ waiting (front of its priority queue)
                                             └──mark_lost──────▶ lost on the channel

Items stay in memory (and use capacity) until acknowledged or given up, as a store-and-forward memory with
retransmission does. Counters always satisfy (checked by :meth:`OnboardStorage.check`)::

    bytes_generated = bytes_delivered + bytes_queued + bytes_lost
    bytes_queued    = bytes_waiting + bytes_in_flight
    bytes_lost      = bytes_overflowed + bytes_lost_channel

Retransmissions move no new bytes into ``bytes_generated``; they are counted apart in ``bytes_retransmitted``.
Nothing is dropped silently: an item that does not fit is returned as overflow and kept in ``overflowed``.

>>> s = OnboardStorage(capacity_bytes=100)
>>> s.enqueue(StorageItem("a", 0, 60, priority=1)), s.enqueue(StorageItem("b", 0, 60))
(True, False)
>>> [i.scene_id for i in s.drain(1000)], s.bytes_in_flight
(['a'], 60)
>>> s.acknowledge(s.in_flight_items()); s.bytes_delivered, s.bytes_overflowed, s.check()
(60, 60, True)
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sim.errors import StorageError


@dataclass(frozen=True)
class StorageItem:
    """One coded chunk waiting onboard. ``created_time`` is an aware datetime or seconds (caller's choice).

    Items are identified by ``key = (scene_id, chunk_index, apid)``; higher ``priority`` leaves first.
    """

    scene_id: str
    chunk_index: int
    n_bytes: int
    priority: int = 0
    created_time: datetime | float = 0.0
    apid: int = 0

    @property
    def key(self) -> tuple[str, int, int]:
        """Identity of the item in the store."""
        return (self.scene_id, self.chunk_index, self.apid)


@dataclass
class OnboardStorage:
    """Bounded onboard store with strict-priority, FIFO-within-priority queues.

    ``capacity_bytes`` bounds ``bytes_queued`` (waiting + in flight).
    """

    capacity_bytes: int
    bytes_generated: int = 0
    bytes_delivered: int = 0
    bytes_waiting: int = 0
    bytes_in_flight: int = 0
    bytes_overflowed: int = 0
    bytes_lost_channel: int = 0
    bytes_retransmitted: int = 0
    items_generated: int = 0
    items_delivered: int = 0
    items_overflowed: int = 0
    items_lost_channel: int = 0
    overflowed: list[StorageItem] = field(default_factory=list)
    lost: list[StorageItem] = field(default_factory=list)
    _queues: dict[int, deque[StorageItem]] = field(default_factory=dict, repr=False)
    _in_flight: dict[tuple[str, int, int], StorageItem] = field(default_factory=dict, repr=False)
    _known: set[tuple[str, int, int]] = field(default_factory=set, repr=False)
    _waiting_by_apid: dict[int, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.capacity_bytes < 0:
            raise StorageError(f"capacity_bytes={self.capacity_bytes}; must be >= 0")

    # -- counters -------------------------------------------------------------------------------------------
    @property
    def bytes_queued(self) -> int:
        """Bytes held onboard: waiting for the downlink or in flight awaiting acknowledgement."""
        return self.bytes_waiting + self.bytes_in_flight

    @property
    def bytes_lost(self) -> int:
        """Bytes that will never be delivered: overflowed at enqueue or given up after channel losses."""
        return self.bytes_overflowed + self.bytes_lost_channel

    @property
    def bytes_free(self) -> int:
        """Capacity left for new items."""
        return self.capacity_bytes - self.bytes_queued

    def waiting_bytes_by_apid(self) -> dict[int, int]:
        """Waiting bytes per APID (non-zero entries)."""
        return {k: v for k, v in self._waiting_by_apid.items() if v}

    def n_waiting(self) -> int:
        """Number of items waiting for the downlink."""
        return sum(len(q) for q in self._queues.values())

    def in_flight_items(self) -> list[StorageItem]:
        """Items sent and not yet acknowledged, in send order."""
        return list(self._in_flight.values())

    def check(self) -> bool:
        """Verify the accounting identities; raise :class:`StorageError` (with the numbers) when broken."""
        waiting = sum(i.n_bytes for q in self._queues.values() for i in q)
        flight = sum(i.n_bytes for i in self._in_flight.values())
        lhs = self.bytes_generated
        rhs = self.bytes_delivered + self.bytes_queued + self.bytes_lost
        if lhs != rhs or waiting != self.bytes_waiting or flight != self.bytes_in_flight:
            raise StorageError(
                f"accounting broken: generated={lhs} vs delivered+queued+lost={rhs}; waiting "
                f"{self.bytes_waiting} (recount {waiting}); in flight {self.bytes_in_flight} (recount {flight})"
            )
        if self.bytes_queued > self.capacity_bytes:
            raise StorageError(f"bytes_queued={self.bytes_queued} exceeds capacity_bytes={self.capacity_bytes}")
        return True

    # -- operations -----------------------------------------------------------------------------------------
    def enqueue(self, item: StorageItem) -> bool:
        """Store a newly generated item; return False (and count it as overflow) when it does not fit."""
        if item.n_bytes < 0:
            raise StorageError(f"item {item.key} has n_bytes={item.n_bytes}; must be >= 0")
        if item.key in self._known:
            raise StorageError(f"item {item.key} was already generated; keys must be unique")
        self._known.add(item.key)
        self.bytes_generated += item.n_bytes
        self.items_generated += 1
        if item.n_bytes > self.bytes_free:
            self.bytes_overflowed += item.n_bytes
            self.items_overflowed += 1
            self.overflowed.append(item)
            return False
        self._queues.setdefault(item.priority, deque()).append(item)
        self.bytes_waiting += item.n_bytes
        self._waiting_by_apid[item.apid] = self._waiting_by_apid.get(item.apid, 0) + item.n_bytes
        return True

    def drain(
        self,
        capacity_bytes: int | float,
        size_of: Callable[[StorageItem], int] | None = None,
        allow_bypass: bool = False,
    ) -> list[StorageItem]:
        """Take whole items, highest priority first and FIFO within a priority, while they fit.

        ``size_of`` gives the channel bytes an item costs (default ``n_bytes``; e.g. add packet overhead).
        Strict order by default: the first item that does not fit stops the drain; ``allow_bypass=True`` lets
        smaller later items use the remaining capacity. Taken items are in flight until acknowledged,
        requeued or marked lost.
        """
        cost = size_of or (lambda it: it.n_bytes)
        left = capacity_bytes
        out: list[StorageItem] = []
        for prio in sorted(self._queues, reverse=True):
            q = self._queues[prio]
            while q:
                item = q[0]
                c = cost(item)
                if c > left:
                    if not allow_bypass:
                        self._commit(out)
                        return out
                    break
                q.popleft()
                left -= c
                out.append(item)
        self._commit(out)
        return out

    def _commit(self, items: list[StorageItem]) -> None:
        for item in items:
            self._in_flight[item.key] = item
            self.bytes_waiting -= item.n_bytes
            self.bytes_in_flight += item.n_bytes
            self._waiting_by_apid[item.apid] -= item.n_bytes

    def _take_in_flight(self, item: StorageItem) -> StorageItem:
        try:
            stored = self._in_flight.pop(item.key)
        except KeyError:
            raise StorageError(f"item {item.key} is not in flight ({len(self._in_flight)} items are)") from None
        self.bytes_in_flight -= stored.n_bytes
        return stored

    def acknowledge(self, items: Iterable[StorageItem]) -> None:
        """The ground confirmed these in-flight items: they are delivered and free their memory."""
        for item in items:
            stored = self._take_in_flight(item)
            self.bytes_delivered += stored.n_bytes
            self.items_delivered += 1

    def requeue(self, items: Iterable[StorageItem]) -> None:
        """NAK: put lost in-flight items back at the front of their priority queues, keeping their order."""
        items = list(items)
        for item in reversed(items):
            stored = self._take_in_flight(item)
            self._queues.setdefault(stored.priority, deque()).appendleft(stored)
            self.bytes_waiting += stored.n_bytes
            self.bytes_retransmitted += stored.n_bytes
            self._waiting_by_apid[stored.apid] = self._waiting_by_apid.get(stored.apid, 0) + stored.n_bytes

    def mark_lost(self, items: Iterable[StorageItem]) -> None:
        """Give up on in-flight items lost on the channel (no more retransmissions)."""
        for item in items:
            stored = self._take_in_flight(item)
            self.bytes_lost_channel += stored.n_bytes
            self.items_lost_channel += 1
            self.lost.append(stored)

    def counters(self) -> dict[str, int]:
        """All byte and item counters as a plain dict (for ``summary.json``)."""
        return {
            "bytes_generated": self.bytes_generated,
            "bytes_delivered": self.bytes_delivered,
            "bytes_queued": self.bytes_queued,
            "bytes_lost": self.bytes_lost,
            "bytes_waiting": self.bytes_waiting,
            "bytes_in_flight": self.bytes_in_flight,
            "bytes_overflowed": self.bytes_overflowed,
            "bytes_lost_channel": self.bytes_lost_channel,
            "bytes_retransmitted": self.bytes_retransmitted,
            "items_generated": self.items_generated,
            "items_delivered": self.items_delivered,
            "items_overflowed": self.items_overflowed,
            "items_lost_channel": self.items_lost_channel,
        }
