"""Fast accounting-mode downlink simulation: one satellite, N ground stations, a day (or any window).

No payload bytes are built: scenes are split into chunk items of known size, the onboard store drains them
through each contact at the rate the link budget allows, and frames are marked lost from the link FER plus an
optional Gilbert–Elliott burst channel. Model (each choice documented here):

- Passes come from :func:`sim.passes.find_passes` per station. One transmitter: contacts are scheduled
  "sticky" — a pass in use is kept until its LOS, then the next visible station (earliest AOS) takes over.
- Each contact is cut into steps of ``step_s`` (the last one shorter); the geometry and link budget are taken at
  the middle of the step and held for the step.
- Channel bytes per step = rate_bps·duration/8 × (transfer frame / CADU) (RS(255,223)×I and ASM overhead).
  Capacity not used by whole items is carried over to the next step of the same contact (transmission is
  continuous) and forgotten at the end of a contact.
- Items are packed back to back into the data fields of transfer frames (packets spanning frames, as the
  first-header pointer allows); each item costs ``n_bytes`` plus packet overhead. An item is lost when any frame
  carrying part of it is lost.
- A transfer frame is lost with the probability that one of the DVB-S2 FECFRAMEs it touches fails
  (:func:`sim.link.transfer_frame_loss_probability`), OR when the burst channel is in a losing state.
- Lost items are NAKed at the end of the step and retransmitted first (up to ``max_transmissions`` sends in
  all), then given up and counted lost; retransmitted bytes are counted once in ``bytes_generated``.

>>> from datetime import datetime, timezone, timedelta
>>> t0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
>>> plan = regular_imaging_plan(t0, t0 + timedelta(hours=6), interval_s=3600.0, scene_bytes=5_000_000,
...                             chunk_bytes=50_000)
>>> len(plan), len(plan[0].chunks())
(6, 100)
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from sim.channel import GilbertElliott, frame_losses
from sim.errors import SimError, TimeWindowError
from sim.link import DVBS2_MODCODS, LinkConfig, link_budget, transfer_frame_loss_probability
from sim.orbit import look_angles, require_utc
from sim.passes import GroundStation, OrbitSource, Pass, as_satrec, find_passes
from sim.storage import OnboardStorage, StorageItem


@dataclass(frozen=True)
class SceneRequest:
    """A scene imaged at ``time`` producing ``n_bytes`` of coded payload, split into chunks of ``chunk_bytes``."""

    time: datetime
    scene_id: str
    n_bytes: int
    chunk_bytes: int = 65_536
    priority: int = 0
    apid: int = 0

    def chunks(self) -> list[StorageItem]:
        """The scene's chunk items (the last one may be shorter)."""
        if self.n_bytes <= 0 or self.chunk_bytes <= 0:
            raise SimError(f"scene {self.scene_id}: n_bytes={self.n_bytes}, chunk_bytes={self.chunk_bytes}; "
                           "both must be > 0")
        n = -(-self.n_bytes // self.chunk_bytes)
        sizes = [self.chunk_bytes] * (n - 1) + [self.n_bytes - self.chunk_bytes * (n - 1)]
        return [StorageItem(self.scene_id, i, s, self.priority, self.time, self.apid) for i, s in enumerate(sizes)]


def regular_imaging_plan(
    start: datetime,
    end: datetime,
    interval_s: float,
    scene_bytes: int,
    chunk_bytes: int = 65_536,
    priority: int = 0,
    apid: int = 0,
    first_offset_s: float = 0.0,
    prefix: str = "scene",
) -> tuple[SceneRequest, ...]:
    """One fixed-size scene every ``interval_s`` from ``start + first_offset_s`` (inclusive) to ``end`` (exclusive)."""
    t0, t1 = require_utc("start", start), require_utc("end", end)
    if not interval_s > 0:
        raise TimeWindowError(f"interval_s={interval_s}; must be > 0")
    span = (t1 - t0).total_seconds()
    n = max(0, math.ceil((span - first_offset_s) / interval_s))
    return tuple(
        SceneRequest(t0 + timedelta(seconds=first_offset_s + k * interval_s), f"{prefix}-{k:05d}", scene_bytes,
                     chunk_bytes, priority, apid)
        for k in range(n)
    )


@dataclass(frozen=True)
class FramingConfig:
    """Frame and packet sizes seen by the accounting model (CCSDS TM over DVB-S2).

    Defaults are those of :mod:`onboard.packets`: 1115-octet TM transfer frames (6-octet primary header + 2-octet
    FECF → 1107 data octets), RS(255,223) interleaved I=5 (1275 octets) + 4-octet ASM = 1279-octet CADU; each chunk
    travels in Space Packets of at most ``max_packet_data_bytes`` user octets with ``packet_overhead_bytes`` each
    (6 primary header + 19 secondary header (CUC time, chunk descriptor) + 2 CRC).
    """

    frame_bytes: int = 1115
    frame_overhead_bytes: int = 8
    cadu_bytes: int = 1279
    packet_overhead_bytes: int = 27
    max_packet_data_bytes: int = 4096

    @property
    def frame_data_bytes(self) -> int:
        """Payload octets per transfer frame."""
        return self.frame_bytes - self.frame_overhead_bytes

    def channel_bytes(self, item: StorageItem) -> int:
        """Bytes an item takes in the frame data fields (payload + packet overhead)."""
        n_packets = max(1, -(-item.n_bytes // self.max_packet_data_bytes))
        return item.n_bytes + n_packets * self.packet_overhead_bytes


@dataclass(frozen=True)
class AccountingConfig:
    """Settings of :func:`simulate_accounting`."""

    step_s: float = 5.0
    pass_step_s: float = 30.0
    storage_capacity_bytes: int = 64 * 2**30
    framing: FramingConfig = field(default_factory=FramingConfig)
    channel: GilbertElliott | None = None
    retransmit: bool = True
    max_transmissions: int = 3

    def __post_init__(self) -> None:
        if not self.step_s > 0 or not self.pass_step_s > 0:
            raise SimError(f"step_s={self.step_s}, pass_step_s={self.pass_step_s}; both must be > 0")
        if self.max_transmissions < 1:
            raise SimError(f"max_transmissions={self.max_transmissions}; must be >= 1")


@dataclass(frozen=True)
class Contact:
    """A scheduled downlink window: part (or all) of one pass, ``start_s``/``end_s`` from the run start."""

    station_index: int
    pass_: Pass
    start_s: float
    end_s: float


#: One row per time step of a contact.
TIMELINE_DTYPE = np.dtype(
    [
        ("t_s", "f8"),  # step start, seconds from the run start
        ("duration_s", "f8"),
        ("station", "i2"),  # index into the stations sequence
        ("elevation_deg", "f4"),
        ("range_km", "f4"),
        ("esn0_db", "f4"),
        ("modcod", "i1"),  # index into sim.link.DVBS2_MODCODS, -1 = link off
        ("rate_bps", "f8"),
        ("frame_loss_prob", "f8"),
        ("frames_sent", "i8"),
        ("frames_lost", "i8"),
        ("items_sent", "i4"),
        ("items_lost", "i4"),
        ("bytes_sent", "i8"),  # coded payload bytes of the items sent (retransmissions included)
        ("bytes_delivered", "i8"),
        ("bytes_queued", "i8"),  # after the step
    ]
)


@dataclass
class AccountingResult:
    """Outcome of :func:`simulate_accounting`.

    ``totals`` holds the storage counters (``bytes_generated = bytes_delivered + bytes_queued + bytes_lost``) and
    run statistics; ``latency_s`` is, per delivered item, delivery time minus scene time.
    """

    start: datetime
    end: datetime
    stations: tuple[GroundStation, ...]
    passes: dict[str, list[Pass]]
    contacts: list[Contact]
    timeline: np.ndarray
    storage: OnboardStorage
    latency_s: np.ndarray
    totals: dict[str, float]
    simulated_s: float
    wall_s: float

    @property
    def speedup(self) -> float:
        """Simulated seconds per wall-clock second."""
        return speed_ratio(self)


def _created_offset(item: StorageItem, t0: datetime) -> float:
    """Creation time of an item not generated by the plan (a preloaded store), in seconds from ``t0``."""
    if isinstance(item.created_time, datetime):
        return (require_utc("created_time", item.created_time) - t0).total_seconds()
    return float(item.created_time)


def speed_ratio(result: AccountingResult) -> float:
    """Simulated seconds / wall seconds of a run (how much faster than real time)."""
    return result.simulated_s / result.wall_s if result.wall_s > 0 else math.inf


class Transport:
    """How the items sent in one step cross the link. Subclasses: :class:`AccountingTransport` (frames lost at
    random, nothing built) and ``sim.bittrue.BitTrueTransport`` (real packets, frames, RS, bit errors)."""

    def channel_bytes(self, item: StorageItem) -> int:
        """Octets an item occupies in the transfer-frame data fields."""
        raise NotImplementedError

    def start_contact(self, contact: "Contact") -> None:
        """A new contact begins (a burst-channel state does not carry over from the last one)."""

    def end_contact(self, contact: "Contact") -> None:
        """The contact is over (the ground may process what it received)."""

    def send(self, items: list[StorageItem], frame_loss_prob: float, rng: np.random.Generator, t_s: float
             ) -> tuple[np.ndarray, int, int]:
        """Send ``items`` back to back in whole frames; return (lost flag per item, frames sent, frames lost)."""
        raise NotImplementedError


class AccountingTransport(Transport):
    """Accounting mode: items packed back to back into frame data fields, frames lost from the link's loss
    probability OR the Gilbert–Elliott burst channel; an item is lost when any frame carrying part of it is."""

    def __init__(self, framing: FramingConfig, channel: GilbertElliott | None = None) -> None:
        self.framing = framing
        self.channel = channel
        self.ge_state: bool | None = None

    def channel_bytes(self, item: StorageItem) -> int:
        return self.framing.channel_bytes(item)

    def start_contact(self, contact: "Contact") -> None:
        self.ge_state = None

    def send(self, items, frame_loss_prob, rng, t_s):
        p_data = self.framing.frame_data_bytes
        cost = np.fromiter((self.channel_bytes(it) for it in items), dtype=np.int64, count=len(items))
        ends = np.cumsum(cost)
        begins = ends - cost
        frames_sent = int(-(-int(ends[-1]) // p_data))
        lost, self.ge_state = frame_losses(frames_sent, frame_loss_prob, rng, self.channel, self.ge_state)
        cs = np.concatenate(([0], np.cumsum(lost)))
        first, last = begins // p_data, (ends - 1) // p_data
        return (cs[last + 1] - cs[first]) > 0, frames_sent, int(lost.sum())


def schedule_contacts(passes_by_station: Sequence[Sequence[Pass]], start: datetime) -> list[Contact]:
    """Sticky single-transmitter schedule: keep each pass until LOS, then hand over to the next visible one."""
    allp = sorted(
        ((i, p) for i, ps in enumerate(passes_by_station) for p in ps), key=lambda ip: (ip[1].aos, ip[0])
    )
    contacts: list[Contact] = []
    busy_until = -math.inf
    for i, p in allp:
        a = (p.aos - start).total_seconds()
        b = (p.los - start).total_seconds()
        s = max(a, busy_until)
        if s < b:
            contacts.append(Contact(i, p, s, b))
            busy_until = b
    return contacts


def simulate_accounting(
    orbit: OrbitSource,
    stations: Sequence[GroundStation],
    start: datetime,
    end: datetime,
    link: LinkConfig | Mapping[str, LinkConfig],
    plan: Sequence[SceneRequest],
    rng: np.random.Generator,
    config: AccountingConfig = AccountingConfig(),
    storage: OnboardStorage | None = None,
    clock: Callable[[], float] = time.perf_counter,
    transport: "Transport | None" = None,
    enqueue: Callable[[SceneRequest, float], list[StorageItem]] | None = None,
) -> AccountingResult:
    """Run the downlink simulation over ``[start, end)``.

    ``link`` is one configuration for every station or a mapping station name → configuration. ``storage``
    may carry a store already holding data (default: an empty one of ``config.storage_capacity_bytes``).
    ``clock`` only measures the wall time reported in the result.

    ``transport`` decides which of the items sent in a step arrive (default :class:`AccountingTransport`: frames
    lost at random from the link FER and the burst channel); ``sim.bittrue.BitTrueTransport`` builds the real
    frames instead. ``enqueue(scene, t_s)`` turns a scene request into storage items when its time comes
    (default: ``scene.chunks()``); the end-to-end runner encodes the real image there.
    """
    wall0 = clock()
    t0, t1 = require_utc("start", start), require_utc("end", end)
    span_s = (t1 - t0).total_seconds()
    if span_s <= 0:
        raise TimeWindowError(f"end - start = {span_s} s; need end > start")
    sat = as_satrec(orbit)
    stations = tuple(stations)
    links = [link if isinstance(link, LinkConfig) else link[s.name] for s in stations]
    store = storage if storage is not None else OnboardStorage(config.storage_capacity_bytes)
    fr = config.framing
    transport = transport if transport is not None else AccountingTransport(fr, config.channel)
    size_of = transport.channel_bytes
    p_data = fr.frame_data_bytes
    data_per_channel_byte = fr.frame_bytes / fr.cadu_bytes
    frame_bits = fr.cadu_bytes * 8
    kbch_data = np.array([m.data_field_bits for m in DVBS2_MODCODS])

    passes = [find_passes(sat, st, t0, t1, step_s=config.pass_step_s) for st in stations]
    contacts = schedule_contacts(passes, t0)

    scenes = sorted(plan, key=lambda s: s.time)
    scene_t = [(require_utc("scene time", s.time) - t0).total_seconds() for s in scenes]
    next_scene = 0
    sends: dict[tuple[str, int, int], int] = {}
    created_s: dict[tuple[str, int, int], float] = {}
    latencies: list[float] = []
    rows: list[tuple] = []

    def enqueue_until(t_s: float) -> None:
        nonlocal next_scene
        while next_scene < len(scenes) and scene_t[next_scene] <= t_s:
            items = (enqueue(scenes[next_scene], scene_t[next_scene]) if enqueue is not None
                     else scenes[next_scene].chunks())
            for item in items:
                store.enqueue(item)
                created_s[item.key] = scene_t[next_scene]
            next_scene += 1

    for c in contacts:
        n_steps = max(1, math.ceil((c.end_s - c.start_s) / config.step_s - 1e-9))
        t_steps = c.start_s + config.step_s * np.arange(n_steps)
        durations = np.minimum(t_steps + config.step_s, c.end_s) - t_steps
        geo = look_angles(sat, stations[c.station_index], t0, t_steps + 0.5 * durations)
        lb = link_budget(links[c.station_index], geo.range_km, geo.elevation_deg, geo.off_nadir_deg)
        safe = np.where(lb.modcod_index >= 0, lb.modcod_index, 0)
        p_loss = np.where(
            lb.modcod_index >= 0, transfer_frame_loss_probability(lb.fer, frame_bits, kbch_data[safe]), 1.0
        )
        carry = 0.0
        transport.start_contact(c)
        for k in range(n_steps):
            enqueue_until(float(t_steps[k]))
            t_end = float(t_steps[k] + durations[k])
            rate = float(lb.rate_bps[k])
            frames_sent = frames_lost = 0
            sent: list[StorageItem] = []
            n_lost_items = 0
            bytes_delivered = 0
            if rate <= 0.0:
                carry = 0.0
            else:
                budget = carry + rate * durations[k] / 8.0 * data_per_channel_byte
                # Whole frames only: capacity in frame data bytes.
                budget_data = math.floor(budget / fr.frame_bytes) * p_data
                sent = store.drain(budget_data, size_of=size_of)
                if sent:
                    item_lost, frames_sent, frames_lost = transport.send(sent, float(p_loss[k]), rng,
                                                                         float(t_steps[k]))
                    used = frames_sent * fr.frame_bytes
                else:
                    item_lost = np.zeros(0, dtype=bool)
                    used = 0
                carry = budget - used
                delivered, nak, give_up = [], [], []
                for it, bad in zip(sent, item_lost):
                    key = it.key
                    if not bad:
                        delivered.append(it)
                        bytes_delivered += it.n_bytes
                        latencies.append(t_end - created_s.get(key, _created_offset(it, t0)))
                        sends.pop(key, None)
                        continue
                    n_lost_items += 1
                    n = sends.get(key, 0) + 1
                    if config.retransmit and n < config.max_transmissions:
                        sends[key] = n
                        nak.append(it)
                    else:
                        sends.pop(key, None)
                        give_up.append(it)
                store.acknowledge(delivered)
                store.requeue(nak)
                store.mark_lost(give_up)
            rows.append(
                (
                    t_steps[k], durations[k], c.station_index, geo.elevation_deg[k], geo.range_km[k], lb.esn0_db[k],
                    lb.modcod_index[k], rate, p_loss[k], frames_sent, frames_lost, len(sent), n_lost_items,
                    sum(it.n_bytes for it in sent), bytes_delivered, store.bytes_queued,
                )
            )
        transport.end_contact(c)
    enqueue_until(math.nextafter(span_s, -math.inf))
    store.check()

    timeline = np.array(rows, dtype=TIMELINE_DTYPE)
    lat = np.array(latencies, dtype=np.float64)
    wall = clock() - wall0
    totals: dict[str, float] = dict(store.counters())
    contact_s = float(sum(c.end_s - c.start_s for c in contacts))
    totals.update(
        n_passes=float(sum(len(p) for p in passes)),
        n_contacts=float(len(contacts)),
        contact_s=contact_s,
        frames_sent=float(timeline["frames_sent"].sum()) if timeline.size else 0.0,
        frames_lost=float(timeline["frames_lost"].sum()) if timeline.size else 0.0,
        channel_bits_available=float((timeline["rate_bps"] * timeline["duration_s"]).sum()) if timeline.size else 0.0,
        latency_mean_s=float(lat.mean()) if lat.size else math.nan,
        latency_max_s=float(lat.max()) if lat.size else math.nan,
    )
    return AccountingResult(
        start=t0, end=t1, stations=stations, passes={s.name: p for s, p in zip(stations, passes)},
        contacts=contacts, timeline=timeline, storage=store, latency_s=lat, totals=totals,
        simulated_s=span_s, wall_s=wall,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Demo: one SSO satellite, Svalbard + Kiruna + Weilheim, one day; prints totals and the speed-up.

    ``python -m sim.accounting``
    """
    import argparse
    from datetime import timezone

    from sim.orbit import OrbitElements, sun_synchronous_inclination_deg

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--step-s", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    t0 = datetime(2024, 3, 20, tzinfo=timezone.utc)
    t1 = t0 + timedelta(hours=args.hours)
    orbit = OrbitElements.circular(t0, 500.0, sun_synchronous_inclination_deg(500.0), raan_deg=30.0)
    result = simulate_accounting(
        orbit, DEFAULT_STATIONS, t0, t1, LinkConfig(symbol_rate_sps=2e6),
        regular_imaging_plan(t0, t1, 1800.0, 40_000_000, 65_536), np.random.default_rng(args.seed),
        AccountingConfig(step_s=args.step_s, channel=GilbertElliott.from_loss_rate(1e-3, 5.0)),
    )
    for k, v in result.totals.items():
        print(f"{k:>24}: {v:,.6g}")
    print(f"simulated {result.simulated_s:.0f} s in {result.wall_s:.2f} s wall: {result.speedup:,.0f}x real time")
    return 0


#: Svalbard (SvalSat), Kiruna (Esrange), Weilheim: high-latitude pair plus a mid-latitude station.
DEFAULT_STATIONS: tuple[GroundStation, ...] = (
    GroundStation("Svalbard", 78.23, 15.39, 500.0),
    GroundStation("Kiruna", 67.86, 20.96, 400.0),
    GroundStation("Weilheim", 47.88, 11.08, 600.0),
)

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
