"""End-to-end downlink simulation of a scenario: real encoder, packets, frames, channel, ground decoder.

    imaging plan ──► onboard.encode_image (rate control picks the package) ──► records (header copies, chunks)
      ──► onboard storage (priority queues, capacity) ──► contacts (sgp4 passes, sticky schedule)
      ──► per step: link budget → rate and frame loss ──► transport (bit-true: space packets, TM frames,
          RS(255,223), randomizer, ASM, frame losses and bit errors, ground.recover; accounting: frames lost at
          random) ──► NAK / retransmission ──► ground archive
      ──► after each contact: ground.decoder for every scene that received data, HDF5 product written or
          updated in place (ground.products)

Outputs in ``out_dir``: ``summary.json``, ``timeline.csv``, ``scenes.csv``, ``products/scene_*.h5`` and the PNG
plots of :mod:`sim.report`. Nothing reads a clock for the simulated time; randomness comes from the scenario
seed.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np

from sim.accounting import (
    AccountingConfig, AccountingTransport, FramingConfig, SceneRequest, schedule_contacts, simulate_accounting,
)
from sim.bittrue import PACKET_OVERHEAD, BitTrueTransport, GroundArchive, Record, scene_records
from sim.channel import GilbertElliott
from sim.passes import as_satrec, find_passes
from sim.ratecontrol import CapacityForecast, choose_package, scene_budget_bytes
from sim.scenario import Scenario
from sim.storage import OnboardStorage, StorageItem


@dataclass
class SceneRecord:
    """What happened to one acquisition."""

    scene_id: int
    time_s: float
    image: str
    package: str = ""
    budget_bytes: float = math.nan
    coded_bytes: int = 0
    n_chunks: int = 0
    chunks_received: int = 0
    complete_s: float = math.nan
    first_product_s: float = math.nan
    psnr_db: float = math.nan
    psnr_onboard_db: float = math.nan  # quality had every chunk arrived (what rate control chose)
    product: str = ""


def mirror_to_size(img: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Extend (or crop) an image to ``size`` = (H, W) by mirror reflection (``numpy.pad`` mode "symmetric")."""
    if size is None:
        return img
    h, w = size
    out = img
    while out.shape[0] < h or out.shape[1] < w:
        ph, pw = max(0, min(h - out.shape[0], out.shape[0])), max(0, min(w - out.shape[1], out.shape[1]))
        pad = [(0, ph), (0, pw)] + [(0, 0)] * (out.ndim - 2)
        out = np.pad(out, pad, mode="symmetric")
    return np.ascontiguousarray(out[:h, :w])


def load_images(scenario: Scenario) -> list[tuple[str, np.ndarray]]:
    from onboard.imageio import read_array
    from onboard.samples import load_sample

    imgs = [(f"sample:{n}", load_sample(n)) for n in scenario.imaging.samples]
    for f in scenario.imaging.files:
        p = Path(f)
        if not p.is_absolute():
            p = scenario.base_dir / p
        imgs.append((str(p), read_array(p)))
    return [(name, mirror_to_size(a, scenario.imaging.scene_size)) for name, a in imgs]


class _Encoder:
    """Encodes acquisitions, caching the chunks per (image, package): a repeated image costs one encoding."""

    def __init__(self, images, packages, imaging, workers):
        self.images = images
        self.packages = packages
        self.imaging = imaging
        self.cache: dict[tuple[int, int], object] = {}
        self.quality: dict[tuple[int, int], float] = {}
        self.workers = workers
        self.encode_s = 0.0

    def coded(self, image_index: int, package_index: int):
        key = (image_index, package_index)
        if key not in self.cache:
            import onboard

            t0 = time.perf_counter()
            self.cache[key] = onboard.encode_image(self.images[image_index][1], self.packages[package_index],
                                                   precision=self.imaging.precision, tile=self.imaging.tile,
                                                   transfer=self.imaging.transfer)
            self.encode_s += time.perf_counter() - t0
        return self.cache[key]

    def size(self, image_index: int, package_index: int) -> int:
        return self.coded(image_index, package_index).nbytes


class _RecordingAccounting(AccountingTransport):
    """Accounting transport that also hands the records of delivered items to the ground archive."""

    def __init__(self, framing, channel, records, archive: GroundArchive):
        super().__init__(framing, channel)
        self.records = records
        self.archive = archive

    def send(self, items, frame_loss_prob, rng, t_s):
        from onboard.container import Chunk, SceneHeader
        from onboard.packets.space_packet import RECORD_CHUNK

        lost, n, nl = super().send(items, frame_loss_prob, rng, t_s)
        for it, bad in zip(items, lost):
            if bad:
                continue
            r = self.records[it.key]
            sid = r.sec.scene_id
            if r.sec.record_type == RECORD_CHUNK:
                chunk, _ = Chunk.unpack(r.data)
                self.archive.chunks.setdefault(sid, {})[chunk.index] = chunk
            else:
                self.archive.headers.setdefault(sid, SceneHeader.unpack(r.data)[0])
                self.archive.chunks.setdefault(sid, {})
            self.archive.first_seen_s.setdefault(sid, t_s)
            self.archive.last_update_s[sid] = t_s
        return lost, n, nl


@dataclass
class RunState:
    scenes: dict[int, SceneRecord] = field(default_factory=dict)
    storage_samples: list[tuple[float, int]] = field(default_factory=list)
    decode_s: float = 0.0
    product_updates: int = 0


def run_scenario(scenario: Scenario, out_dir: str | Path, *, progress: bool = True, packages_dir=None,
                 workers: int | None = None) -> dict:
    """Run a scenario end to end and write its outputs to ``out_dir``; returns the summary dict."""
    from ground.decoder import decode_scene
    from ground.metrics import psnr_db
    from ground.products import product_name, write_product
    from onboard.zoo import find_by_id, resolve
    from sim.report import write_plots, write_timeline_csv

    wall0 = time.perf_counter()
    out = Path(out_dir)
    (out / "products").mkdir(parents=True, exist_ok=True)
    im = scenario.imaging
    images = load_images(scenario)
    search = [packages_dir] if packages_dir else []
    packages = [resolve(Path(packages_dir) / p) if packages_dir and (Path(packages_dir) / p).is_dir()
                else resolve(p) for p in im.packages]
    by_id = {p.package_id: p for p in packages}
    rng = np.random.default_rng(scenario.seed)
    t0, t1 = scenario.start, scenario.end
    span_s = (t1 - t0).total_seconds()
    framing = FramingConfig(packet_overhead_bytes=PACKET_OVERHEAD, max_packet_data_bytes=4096)
    ch = scenario.channel
    burst = (GilbertElliott.from_loss_rate(ch.burst_loss_rate, ch.burst_mean_frames)
             if ch.burst_loss_rate > 0 else None)
    config = AccountingConfig(step_s=scenario.downlink.step_s, pass_step_s=scenario.downlink.pass_step_s,
                              storage_capacity_bytes=scenario.storage_capacity_bytes, framing=framing,
                              channel=burst, retransmit=scenario.downlink.retransmit,
                              max_transmissions=scenario.downlink.max_transmissions)
    orbit = scenario.satellite.orbit(t0)
    sat = as_satrec(orbit)
    stations = scenario.stations
    links = [scenario.link] * len(stations)
    passes = [find_passes(sat, s, t0, t1, step_s=config.pass_step_s) for s in stations]
    contacts = schedule_contacts(passes, t0)
    forecast = CapacityForecast.from_contacts(sat, stations, links, contacts, t0, framing)

    # imaging plan
    n_plan = max(0, math.ceil((span_s - im.first_offset_s) / im.interval_s))
    if im.max_scenes is not None:
        n_plan = min(n_plan, im.max_scenes)
    plan = [SceneRequest(t0 + timedelta(seconds=im.first_offset_s + k * im.interval_s), str(k + 1), 1,
                         priority=im.priority, apid=scenario.downlink.apid) for k in range(n_plan)]
    plan_t = np.array([im.first_offset_s + k * im.interval_s for k in range(n_plan)])

    store = OnboardStorage(scenario.storage_capacity_bytes)
    archive = GroundArchive()
    records: dict[tuple, Record] = {}
    if ch.mode == "bit-true":
        transport = BitTrueTransport(framing, burst, ch.residual_ber)
        transport.records = records
        transport.archive = archive
    else:
        transport = _RecordingAccounting(framing, burst, records, archive)
    enc = _Encoder(images, packages, im, workers)
    state = RunState()
    horizon_s = im.horizon_hours * 3600.0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=round(span_s / 86400.0, 3), unit="day", desc=f"simulate {scenario.name}",
                   bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} days [{elapsed}<{remaining}]{postfix}")

    def advance(t_s: float) -> None:
        if bar is not None:
            bar.n = round(min(t_s, span_s) / 86400.0, 3)
            bar.set_postfix(scenes=len(state.scenes), delivered=sum(
                1 for r in state.scenes.values() if not math.isnan(r.complete_s)), refresh=False)
            bar.refresh()

    def enqueue(req: SceneRequest, t_s: float) -> list[StorageItem]:
        from onboard.container import CodedScene, SceneHeader, datetime_to_cuc

        k = int(req.scene_id) - 1
        img_i = k % len(images)
        in_horizon = int(np.sum((plan_t >= t_s) & (plan_t < t_s + horizon_s)))
        budget = scene_budget_bytes(forecast, t_s, horizon_s, store.bytes_queued, in_horizon, im.fill_target)
        pi = choose_package(packages, lambda i: enc.size(img_i, i), budget, im.rate_control)
        base = enc.coded(img_i, pi)
        coarse, fine = datetime_to_cuc(req.time)
        h = base.header
        header = SceneHeader(**{**h.__dict__, "scene_id": int(req.scene_id), "cuc_coarse": coarse,
                                "cuc_fine": fine})
        scene = CodedScene(header, base.chunks)
        sid = int(req.scene_id)
        rec = SceneRecord(sid, t_s, images[img_i][0], packages[pi].name, budget, scene.nbytes, header.n_chunks)
        state.scenes[sid] = rec
        items = []
        for idx, r, nbytes in scene_records(scene, apid=scenario.downlink.apid, vcid=scenario.downlink.vcid):
            item = StorageItem(req.scene_id, idx, nbytes, req.priority, req.time, req.apid)
            records[item.key] = r
            items.append(item)
        state.storage_samples.append((t_s, store.bytes_queued + scene.nbytes))
        advance(t_s)
        return items

    def process_ground(end_s: float) -> None:
        """Decode every scene that received data since the last time, write or update its product."""
        for sid, last in list(archive.last_update_s.items()):
            rec = state.scenes.get(sid)
            if rec is None or (not math.isnan(rec.first_product_s) and last <= rec.first_product_s
                               and rec.chunks_received == len(archive.chunks.get(sid, {}))):
                continue
            scene = archive.scene(sid)
            if scene is None:
                continue
            t = time.perf_counter()
            pkg = by_id.get(scene.header.package_id_hex) or find_by_id(scene.header.package_id_hex, search)
            res = decode_scene(scene, pkg, workers=workers)
            img_i = (sid - 1) % len(images)
            ref = images[img_i][1]
            path = out / "products" / product_name(sid)
            write_product(path, scene, res, pkg, reference=ref, provenance={
                "scenario": scenario.name, "image": images[img_i][0], "received_by_s": end_s,
                "acquired_utc": (t0 + timedelta(seconds=rec.time_s)).isoformat()})
            state.decode_s += time.perf_counter() - t
            state.product_updates += 1
            rec.chunks_received = len(scene.chunks)
            rec.product = str(path.relative_to(out))
            rec.psnr_db = psnr_db(ref, res.image, scene.header.bit_depth)
            if math.isnan(rec.first_product_s):
                rec.first_product_s = end_s
            if rec.chunks_received == scene.header.n_chunks and math.isnan(rec.complete_s):
                rec.complete_s = end_s

    orig_end = transport.end_contact

    def end_contact(c):
        orig_end(c)
        process_ground(c.end_s)
        state.storage_samples.append((c.end_s, store.bytes_queued))
        advance(c.end_s)

    transport.end_contact = end_contact
    result = simulate_accounting(orbit, stations, t0, t1, scenario.link, plan, rng, config, storage=store,
                                 transport=transport, enqueue=enqueue)
    process_ground(span_s)
    if bar is not None:
        advance(span_s)
        bar.close()
    # quality had all chunks arrived (what rate control chose), from the cached encodings
    for rec in state.scenes.values():
        img_i = (rec.scene_id - 1) % len(images)
        pi = [p.name for p in packages].index(rec.package)
        key = (img_i, pi)
        if key not in enc.quality:
            from ground.decoder import decode_image

            enc.quality[key] = psnr_db(images[img_i][1], decode_image(enc.coded(img_i, pi), packages[pi]),
                                       enc.coded(img_i, pi).header.bit_depth)
        rec.psnr_onboard_db = enc.quality[key]
    wall = time.perf_counter() - wall0
    summary = make_summary(scenario, result, state, archive, transport, forecast, enc, wall)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    write_timeline_csv(out / "timeline.csv", result, scenario)
    write_scenes_csv(out / "scenes.csv", state, scenario)
    write_plots(out, scenario, result, state, sat)
    return summary


def make_summary(scenario, result, state: RunState, archive: GroundArchive, transport, forecast, enc, wall_s):
    tot = result.totals
    recs = sorted(state.scenes.values(), key=lambda r: r.scene_id)
    delivered = [r for r in recs if not math.isnan(r.complete_s)]
    latency = [r.complete_s - r.time_s for r in delivered]
    psnrs = [r.psnr_db for r in delivered]
    passes = [{"station": p.station.name, "aos": p.aos.isoformat(), "tca": p.tca.isoformat(),
               "los": p.los.isoformat(), "max_elevation_deg": round(p.max_elevation_deg, 2),
               "duration_s": round(p.duration_s, 1)} for ps in result.passes.values() for p in ps]
    passes.sort(key=lambda d: d["aos"])
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "start": scenario.start.isoformat(),
        "end": scenario.end.isoformat(),
        "channel_mode": scenario.channel.mode,
        "bytes_generated": int(tot["bytes_generated"]),
        "bytes_delivered": int(tot["bytes_delivered"]),
        "bytes_queued": int(tot["bytes_queued"]),
        "bytes_lost": int(tot["bytes_lost"]),
        "bytes_lost_overflow": int(tot.get("bytes_overflowed", 0)),
        "bytes_lost_channel": int(tot.get("bytes_lost_channel", 0)),
        "bytes_retransmitted": int(tot.get("bytes_retransmitted", 0)),
        "bytes_identity_holds": int(tot["bytes_generated"]) == int(tot["bytes_delivered"]) + int(
            tot["bytes_queued"]) + int(tot["bytes_lost"]),
        "passes": len(passes),
        "contacts": int(tot["n_contacts"]),
        "contact_s": round(tot["contact_s"], 1),
        "forecast_capacity_bytes": round(forecast.total_bytes),
        "frames_sent": int(tot["frames_sent"]),
        "frames_lost": int(tot["frames_lost"]),
        "ground_link_stats": archive.stats,
        "scenes_generated": len(recs),
        "scenes_delivered": len(delivered),
        "scenes_partial": sum(1 for r in recs if r.chunks_received and math.isnan(r.complete_s)),
        "products": sum(1 for r in recs if r.product),
        "product_updates": state.product_updates,
        "latency_s_mean": float(np.mean(latency)) if latency else None,
        "latency_s_max": float(np.max(latency)) if latency else None,
        "psnr_db_delivered_mean": float(np.mean(psnrs)) if psnrs else None,
        "packages_used": sorted({r.package for r in recs}),
        "wall_s": round(wall_s, 2),
        "encode_s": round(enc.encode_s, 2),
        "decode_s": round(state.decode_s, 2),
        "speedup_vs_real_time": round(result.simulated_s / wall_s, 1) if wall_s > 0 else None,
        "pass_list": passes,
        "scenes": [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.__dict__.items()}
                   for r in recs],
    }


def write_scenes_csv(path: Path, state: RunState, scenario) -> None:
    import csv

    fields_ = list(SceneRecord.__dataclass_fields__)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields_ + ["time_utc"])
        for r in sorted(state.scenes.values(), key=lambda r: r.scene_id):
            w.writerow([getattr(r, k) for k in fields_]
                       + [(scenario.start + timedelta(seconds=r.time_s)).isoformat()])
