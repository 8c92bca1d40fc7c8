"""The ground decoder: :class:`~onboard.container.CodedScene` -> array, bit-exact with the onboard encoder.

Chunks are independent. Per scene:

1. split every present chunk's payload (``uvarint(len z) + z + y``); a malformed one is *corrupted*;
2. rANS-decode every ``z`` in one parallel batch (numba ``prange``) with the package's frozen tables;
3. the normative integer hyper-synthesis, vectorised over tiles of the same size, gives the scale index of
   every ``y`` symbol, exactly as onboard;
4. rANS-decode every ``y`` in one parallel batch; a stream that fails its final-state check is *corrupted*;
5. ``g_s`` through ONNX Runtime one tile at a time with one intra-op thread per run (deterministic: the same
   pixels whatever the worker count, batch or machine load), tiles spread over a thread pool;
6. crop padding, stitch, denormalise per band into the original shape and dtype.

Missing and corrupted chunks cost only their own pixels: :func:`decode_scene` returns the status of every
chunk, and :func:`decode_image` conceals lost chunks (see :mod:`ground.concealment`) with a warning. Container
bytes are salvaged record by record: a chunk record that fails its CRC32 costs that chunk.

Example:
    >>> import ground, onboard
    >>> coded = onboard.encode_image(img, "hp-rgb-q2")                     # doctest: +SKIP
    >>> out = ground.decode_image(coded.to_bytes(), "hp-rgb-q2")            # doctest: +SKIP
"""
from __future__ import annotations

import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from onboard.container import CodedScene, ContainerDamage
from onboard.encoder import ChunkLatents, band_groups, denormalise, split_payload, tile_slots
from onboard.errors import CorruptStreamError, PackageMismatchError

STATUS_RECEIVED = 0
STATUS_MISSING = 1
STATUS_CORRUPTED = 2
STATUS_CONCEALED = 3
STATUS_CODES = {STATUS_RECEIVED: "received", STATUS_MISSING: "missing", STATUS_CORRUPTED: "corrupted",
                STATUS_CONCEALED: "concealed"}


@dataclass
class DecodedScene:
    """What :func:`decode_scene` returns.

    ``image``: the scene in its original shape and dtype (lost chunks zero unless concealed);
    ``chunk_status``: uint8 per chunk (``STATUS_CODES``); ``pixel_valid``: bool (H, W, C), False where the
    pixels came from no received chunk; ``errors``: chunk index -> reason; ``timings_s``: stage -> seconds;
    ``container_damage``: the stretches of a container given as bytes that failed their CRC and were skipped
    (:meth:`~onboard.container.CodedScene.salvage`; those whose chunk is known are also in ``errors``).
    """

    image: np.ndarray
    chunk_status: np.ndarray
    pixel_valid: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    container_damage: list[ContainerDamage] = field(default_factory=list)

    @property
    def lost_chunks(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(self.chunk_status != STATUS_RECEIVED)]


def check_package(header, package) -> None:
    """Refuse a package that is not the one the scene was coded with (typed error naming both ids)."""
    if header.package_id != package.package_id_bytes:
        raise PackageMismatchError(
            f"scene {header.scene_id} was coded with package {header.package_id_hex[:16]}..., "
            f"but package {package.name} is {package.package_id[:16]}...: decode with the matching package")
    if package.cluster_bands != (header.cluster_bands or None):
        raise PackageMismatchError(f"scene {header.scene_id} has cluster_bands={header.cluster_bands}, "
                                   f"package {package.name} has {package.cluster_bands}")


def _as_scene(coded) -> tuple[CodedScene, list[ContainerDamage]]:
    """A :class:`CodedScene` as it is, or container bytes salvaged record by record (a damaged chunk record
    costs that chunk; a damaged scene header raises :class:`CorruptStreamError`)."""
    if isinstance(coded, CodedScene):
        return coded, []
    if isinstance(coded, (bytes, bytearray, memoryview)):
        return CodedScene.salvage(bytes(coded))
    raise TypeError(f"coded must be a CodedScene or bytes, got {type(coded).__name__}")


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def synthesize(package, y_hat: np.ndarray, target: str = "cpu") -> np.ndarray:
    """g_s for one tile: y_hat (M, h, w) int32 -> x_hat (bands, 16h, 16w) float32 in [0, 1].
    One intra-op thread and batch 1, so the pixels never depend on scheduling."""
    sess = package.session("g_s", "fp32", target, threads=1)
    y = y_hat[None].astype(np.float32)
    if package.inverse_gain is not None:  # format 2: the graph is the family's, the rate's gain comes out here
        y = y * package.inverse_gain.reshape(1, -1, 1, 1)
    x = sess.run(None, {"y_hat": y})[0][0]
    return np.clip(x, 0.0, 1.0)


def decode_latents(scene: CodedScene, package, chunk_ids: list[int], slots, timings: dict,
                   errors: dict[int, str]) -> dict[int, ChunkLatents]:
    """Entropy-decode the latents of ``chunk_ids``; return chunk -> :class:`ChunkLatents` (``y_hat``,
    ``z_hat``, the scale ``indexes``) for those that decode. Failures are written to ``errors``."""
    from onboard.entropy import decode_batch_status

    header = scene.header
    n_groups = header.n_clusters
    cmap = scene.chunk_map
    hyper = package.tile_multiple
    nz = package.hyper_channels
    t0 = time.perf_counter()
    z_streams, y_streams, ids = [], [], []
    for cid in chunk_ids:
        try:
            zs, ys = split_payload(cmap[cid].payload)
        except CorruptStreamError as exc:
            errors[cid] = str(exc)
            continue
        z_streams.append(zs)
        y_streams.append(ys)
        ids.append(cid)
    z_shapes = []
    for cid in ids:
        s = slots[cid // n_groups]
        z_shapes.append((nz, s.pad_h // hyper, s.pad_w // hyper))
    z_idx = [np.ascontiguousarray(np.broadcast_to(np.arange(nz, dtype=np.int32).reshape(nz, 1, 1), shp))
             for shp in z_shapes]
    z_arrays, z_status, _, _ = decode_batch_status(z_streams, z_idx, package.z_tables)
    t1 = time.perf_counter()
    timings["entropy_z"] = t1 - t0
    # integer hyper-synthesis, batched over tiles of one shape
    ok = [k for k in range(len(ids)) if z_status[k] == 0]
    for k in range(len(ids)):
        if z_status[k] != 0:
            errors[ids[k]] = "z stream corrupt"
    by_shape: dict[tuple, list[int]] = {}
    for k in ok:
        by_shape.setdefault(z_arrays[k].shape, []).append(k)
    indexes: dict[int, np.ndarray] = {}
    hs = package.hyper_synthesis
    for _shape, ks in by_shape.items():
        idx = hs.indexes(np.stack([z_arrays[k] for k in ks]))
        for j, k in enumerate(ks):
            indexes[k] = idx[j]
    t2 = time.perf_counter()
    timings["hyper_synthesis"] = t2 - t1
    y_arrays, y_status, _, _ = decode_batch_status([y_streams[k] for k in ok], [indexes[k] for k in ok],
                                                   package.y_tables)
    out = {}
    for j, k in enumerate(ok):
        if y_status[j] != 0:
            errors[ids[k]] = "y stream corrupt"
        else:
            out[ids[k]] = ChunkLatents(y_arrays[j], z_arrays[k], indexes[k])
    timings["entropy_y"] = time.perf_counter() - t2
    return out


def decode_tiles(scene: CodedScene, package, chunk_ids: list[int] | None = None, *, target: str = "cpu",
                 workers: int | None = None, timings: dict | None = None, errors: dict | None = None
                 ) -> dict[int, np.ndarray]:
    """The distributable stage: entropy decoding, hyper-synthesis and synthesis of ``chunk_ids`` (default: every
    present chunk). Returns chunk -> x_hat (bands, pad_h, pad_w) float32 in [0, 1] for the chunks that decode;
    failures go to ``errors``, stage seconds to ``timings``. The same chunk gives the same pixels whichever
    process, thread count or partition decodes it."""
    header = scene.header
    timings = {} if timings is None else timings
    errors = {} if errors is None else errors
    slots = tile_slots(header.height, header.width, header.tile_h, header.tile_w, package.tile_multiple)
    if chunk_ids is None:
        chunk_ids = sorted(ch.index for ch in scene.chunks if 0 <= ch.index < header.n_chunks)
    latents = decode_latents(scene, package, chunk_ids, slots, timings, errors)
    t0 = time.perf_counter()
    ids = sorted(latents)
    n_workers = workers or default_workers()

    def run(cid: int) -> np.ndarray:
        return synthesize(package, latents[cid].y_hat, target)

    if n_workers > 1 and len(ids) > 1:
        with ThreadPoolExecutor(n_workers) as pool:
            outs = list(pool.map(run, ids))
    else:
        outs = [run(cid) for cid in ids]
    timings["synthesis"] = timings.get("synthesis", 0.0) + time.perf_counter() - t0
    return dict(zip(ids, outs))


def assemble(header, package, tiles: dict[int, np.ndarray], errors: dict[int, str], *, conceal: bool = True,
             timings: dict | None = None) -> DecodedScene:
    """Stitch decoded tiles into the scene (crop padding, drop cluster padding), conceal what is missing,
    denormalise to the original dtype. ``tiles`` from :func:`decode_tiles` (possibly several merged).

    With a spectral KLT in the header the tiles hold components: they are stitched and concealed as
    components, then the inverse KLT gives the bands (a lost component chunk costs that component's share
    of its tile in every band; ``pixel_valid`` is False for such pixels)."""
    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    h, w, c = header.height, header.width, header.bands
    planes = header.coded_bands
    slots = tile_slots(h, w, header.tile_h, header.tile_w, package.tile_multiple)
    groups = band_groups(planes, package, header.band_order)
    n_groups = len(groups)
    status = np.full(header.n_chunks, STATUS_MISSING, np.uint8)
    recon = np.zeros((h, w, planes), np.float32)
    valid = np.zeros((h, w, planes), bool)
    for cid in sorted(tiles):
        x = tiles[cid]
        slot = slots[cid // n_groups]
        g = cid % n_groups
        bands = groups[g]
        real = _real_bands(bands, g, planes, package)
        tile = x[:len(bands), :slot.h, :slot.w].transpose(1, 2, 0)
        ys, xs = slice(slot.y0, slot.y0 + slot.h), slice(slot.x0, slot.x0 + slot.w)
        recon[ys, xs, bands[:real]] = tile[:, :, :real]
        valid[ys, xs, bands[:real]] = True
        status[cid] = STATUS_RECEIVED
    for cid in errors:
        if 0 <= cid < header.n_chunks:
            status[cid] = STATUS_CORRUPTED
    timings["stitch"] = time.perf_counter() - t0
    if conceal and not valid.all():
        from ground.concealment import conceal_lost

        t1 = time.perf_counter()
        recon = conceal_lost(recon, valid)
        timings["concealment"] = time.perf_counter() - t1
    if header.spectral is not None:
        t1 = time.perf_counter()
        image = from_components(header, recon)
        valid = np.broadcast_to(valid.all(axis=2, keepdims=True), (h, w, c)).copy()
        timings["inverse_klt"] = time.perf_counter() - t1
    else:
        image = denormalise(recon, header.band_ranges or [(0, 1)] * c, header.dtype, header.transfer_exponent)
    if header.two_d:
        image = image[:, :, 0]
    return DecodedScene(image=image, chunk_status=status, pixel_valid=valid, errors=dict(errors),
                        timings_s=timings)


def value_limits(dtype: str, bit_depth: int) -> tuple[int, int]:
    """The values a scene of ``dtype`` with ``bit_depth`` significant bits can hold (signed: the sign
    included in the bits)."""
    if dtype == "int16":
        return -(1 << (bit_depth - 1)), (1 << (bit_depth - 1)) - 1
    return 0, (1 << bit_depth) - 1


def from_components(header, u: np.ndarray) -> np.ndarray:
    """Inverse spectral KLT of decoded components (H, W, K) in [0, 1] -> (H, W, C) of the scene's dtype,
    rounded and clipped to the declared bit depth."""
    x = header.spectral.inverse(np.clip(u, 0.0, 1.0))
    lo, hi = value_limits(header.dtype, header.bit_depth)
    return np.clip(np.rint(x), lo, hi).astype(header.dtype)


def decode_scene(coded, package, *, target: str = "cpu", workers: int | None = None,
                 conceal: bool = True) -> DecodedScene:
    """Decode every chunk that arrived; never raises for a chunk-level problem.

    ``package``: :class:`~onboard.package.ModelPackage`, zoo name or directory; it must be the package the
    scene names (:class:`PackageMismatchError` otherwise). ``workers``: threads for the synthesis (default: CPU
    count, at most 8). ``conceal``: fill lost chunks from their neighbours (:mod:`ground.concealment`).
    """
    from onboard.zoo import resolve

    scene, damage = _as_scene(coded)
    package = resolve(package)
    check_package(scene.header, package)
    timings: dict[str, float] = {}
    errors: dict[int, str] = {d.chunk: f"container record at octet {d.offset}: {d.reason}"
                              for d in damage if d.chunk is not None}
    tiles = decode_tiles(scene, package, target=target, workers=workers, timings=timings, errors=errors)
    res = assemble(scene.header, package, tiles, errors, conceal=conceal, timings=timings)
    res.container_damage = damage
    return res


def _real_bands(bands: np.ndarray, g: int, n_bands: int, package) -> int:
    """How many of a group's bands are real (the padding of the last cluster is not)."""
    if package.cluster_bands is None:
        return len(bands)
    return min(package.cluster_bands, n_bands - g * package.cluster_bands)


def decode_image(coded, package, *, target: str = "cpu", workers: int | None = None) -> np.ndarray:
    """Decode a coded scene (:class:`CodedScene` or its bytes) to an array of the original shape and dtype.

    A package other than the one the scene names raises :class:`PackageMismatchError`; a container whose
    scene header is damaged raises :class:`CorruptStreamError`. Lost chunks, chunk records that fail their
    CRC32 and chunks that fail to decode are concealed from their neighbours and a ``RuntimeWarning`` names
    them; :func:`decode_scene` gives the per-chunk status instead.
    """
    res = decode_scene(coded, package, target=target, workers=workers)
    lost = res.lost_chunks
    if lost:
        warnings.warn(f"{len(lost)} chunk(s) lost or corrupted and concealed: {lost[:20]}", RuntimeWarning,
                      stacklevel=2)
    return res.image
