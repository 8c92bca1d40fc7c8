"""Recordings -> HDF5 products: the ground segment's batch decoder, local or on a Dask cluster.

    files (raw CADU streams, with garbage, gaps, bit errors) ──recover──► scenes (header + intact chunks),
    merged across files ──► per scene: package by id (zoo or --packages) ──► decode_tiles on partitions of
    chunks (local threads, or Dask tasks) ──► assemble (stitch, conceal, denormalise) ──► product
    (written, or updated in place when the folder already holds that scene: old and new chunks merged)

Nothing is dropped: a scene whose package is unknown is saved as its container bytes in ``undecoded/`` and
reported; chunks of a scene whose every header copy was lost are saved in ``unplaced/``. Stage timings:
``sync_rs`` and ``reassembly`` (recover), ``entropy_z``, ``hyper_synthesis``, ``entropy_y``, ``synthesis``
(summed over tasks), ``stitch``, ``concealment``, ``writing``.

Determinism: a chunk's pixels do not depend on which worker, thread count or partition decodes it
(``g_s`` runs one tile per call with one intra-op thread), so a product decoded on a cluster equals the local
one bit for bit.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from onboard.container import Chunk, CodedScene

_PACKAGES: dict[str, object] = {}


@dataclass
class DecodeReport:
    """What :func:`decode_recordings` did."""

    products: list[str] = field(default_factory=list)
    scenes: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    recovery: dict = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    megapixels: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"ok": self.ok, "products": self.products, "scenes": self.scenes, "problems": self.problems,
                "recovery": self.recovery, "timings_s": self.timings_s, "megapixels": self.megapixels}


def list_inputs(inputs) -> list[Path]:
    """Files as given; folders expanded to the regular files inside them (sorted, not recursive)."""
    out = []
    for i in inputs:
        p = Path(i)
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.is_file()))
        else:
            out.append(p)
    return out


def _add(t: dict, k: str, v: float) -> None:
    t[k] = t.get(k, 0.0) + float(v)


def recover_files(files: list[Path], report: DecodeReport, **recover_kw) -> dict[int, object]:
    """Recover every file and merge the scenes by id (header: first copy found; chunks: union)."""
    from ground.recovery import recover

    merged: dict[int, object] = {}
    stats: dict[str, int] = {}
    for f in files:
        try:
            data = f.read_bytes()
        except OSError as exc:
            report.problems.append(f"{f}: cannot read ({exc})")
            continue
        if not data:
            report.problems.append(f"{f}: empty file")
            continue
        rec = recover(data, **recover_kw)
        for k, v in rec.timings_s.items():
            _add(report.timings_s, k, v)
        for k in ("input_bytes", "garbage_bytes", "frames_seen", "frames_ok", "frames_uncorrectable",
                  "rs_corrected_symbols", "frames_fecf_failed", "frame_gaps", "packets_ok", "packets_crc_failed",
                  "packet_sequence_gaps", "records_incomplete", "records_failed"):
            stats[k] = stats.get(k, 0) + int(getattr(rec, k))
        if not rec.scenes:
            report.problems.append(f"{f}: no scene found ({rec.frames_ok} good frames of {rec.frames_seen}, "
                                   f"{rec.garbage_bytes} garbage octets)")
        for sid, s in rec.scenes.items():
            m = merged.get(sid)
            if m is None:
                merged[sid] = s
                continue
            if m.header is None and s.header is not None:
                m.header = s.header
            m.chunks.update(s.chunks)
            m.corrupted |= s.corrupted
    report.recovery = stats
    return merged


def _package(path: str):
    pkg = _PACKAGES.get(path)
    if pkg is None:
        from onboard.package import load_package

        pkg = _PACKAGES[path] = load_package(path)
    return pkg


def decode_part(package_path: str, scene_bytes: bytes, chunk_ids: list[int]):
    """One task: decode some chunks of a scene. Returns (tiles, errors, timings). Runs on any worker."""
    from ground.decoder import decode_tiles

    pkg = _package(package_path)
    scene = CodedScene.from_bytes(scene_bytes)
    timings: dict = {}
    errors: dict = {}
    tiles = decode_tiles(scene, pkg, chunk_ids, workers=1, timings=timings, errors=errors)
    return tiles, errors, timings


def partitions(ids: list[int], n_parts: int) -> list[list[int]]:
    n_parts = max(1, min(n_parts, len(ids)))
    return [list(p) for p in np.array_split(np.array(ids, dtype=np.int64), n_parts) if len(p)]


def decode_scene_distributed(scene: CodedScene, package, client, *, parts_per_worker: int = 4):
    """decode_tiles on a Dask cluster, one task per partition of the chunks; merged tiles, errors, timings."""
    ids = sorted(c.index for c in scene.chunks if 0 <= c.index < scene.header.n_chunks)
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    data = client.scatter(scene.to_bytes(), broadcast=True)
    futures = [client.submit(decode_part, str(package.path), data, part, pure=False)
               for part in partitions(ids, n_workers * parts_per_worker)]
    tiles, errors, timings = {}, {}, {}
    for t, e, tm in client.gather(futures):
        tiles.update(t)
        errors.update(e)
        for k, v in tm.items():
            _add(timings, k, v)
    return tiles, errors, timings


def decode_recordings(inputs, out_dir: str | Path, *, packages: list[str | Path] = (), scheduler: str | None = None,
                      client=None, workers: int | None = None, references: dict[int, np.ndarray] | None = None,
                      progress: bool = False) -> DecodeReport:
    """Decode raw recordings into one HDF5 product per scene in ``out_dir`` (see the module docstring).

    ``scheduler``: address of a Dask scheduler (``tcp://host:port``), or pass a ``client``; default: local
    threads. ``references``: scene id -> original image, for metrics in the products.
    """
    from ground.decoder import assemble, check_package, decode_tiles
    from ground.products import merge_chunks, product_name, read_coded_scene, write_product
    from onboard.errors import PackageMismatchError, SatcompError
    from onboard.zoo import find_by_id

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = DecodeReport()
    files = list_inputs(inputs)
    if not files:
        report.problems.append("no input file")
        return report
    own_client = None
    if client is None and scheduler:
        from distributed import Client

        client = own_client = Client(scheduler)
    try:
        scenes = recover_files(files, report)
        items = sorted(scenes.items())
        if progress:
            from tqdm import tqdm

            items = tqdm(items, desc="decode", unit="scene")
        for sid, rs in items:
            if rs.header is None:
                path = out / "unplaced" / f"scene_{sid:08d}_chunks.bin"
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(chunk_records(rs.chunks))
                report.problems.append(f"scene {sid}: every header copy was lost; {len(rs.chunks)} intact chunks "
                                       f"saved to {path}")
                continue
            scene = rs.to_coded_scene()
            try:
                pkg = find_by_id(scene.header.package_id_hex, list(packages))
                check_package(scene.header, pkg)
            except (PackageMismatchError, SatcompError) as exc:
                path = out / "undecoded" / f"scene_{sid:08d}.scmp"
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(scene.to_bytes())
                report.problems.append(f"scene {sid}: {exc}; container saved to {path}")
                continue
            prod = out / product_name(sid)
            if prod.exists():
                try:
                    scene = merge_chunks(read_coded_scene(prod), scene)
                except (SatcompError, OSError, KeyError) as exc:
                    report.problems.append(f"scene {sid}: existing product {prod} not merged ({exc}); rewritten")
            timings: dict = {}
            errors: dict = {}
            if client is not None:
                tiles, errors, timings = decode_scene_distributed(scene, pkg, client)
            else:
                tiles = decode_tiles(scene, pkg, workers=workers, timings=timings, errors=errors)
            res = assemble(scene.header, pkg, tiles, errors, timings=timings)
            t0 = time.perf_counter()
            ref = None if references is None else references.get(sid)
            write_product(prod, scene, res, pkg, reference=ref,
                          provenance={"inputs": [str(f) for f in files], "recovery": report.recovery})
            timings["writing"] = time.perf_counter() - t0
            for k, v in timings.items():
                _add(report.timings_s, k, v)
            h = scene.header
            report.megapixels += h.height * h.width / 1e6
            report.products.append(str(prod))
            report.scenes.append({"scene_id": sid, "product": str(prod), "package": pkg.name,
                                  "n_chunks": h.n_chunks, "received": int(np.sum(res.chunk_status == 0)),
                                  "lost_chunks": res.lost_chunks})
    finally:
        if own_client is not None:
            own_client.close()
    (out / "decode_report.json").write_text(json.dumps(report.to_dict(), indent=1))
    return report


def chunk_records(chunks: dict[int, Chunk]) -> bytes:
    """The chunk records (``Chunk.pack()``) in index order, as the container stores them."""
    return b"".join(chunks[i].pack() for i in sorted(chunks))
