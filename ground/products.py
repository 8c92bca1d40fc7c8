"""HDF5 science products, one file per scene (h5py). The one product writer of the project.

Layout (self-describing: every dataset and group has a ``description`` attribute)::

    /reconstruction      the scene in its original shape and dtype; chunked (one tile per HDF5 chunk), gzip
    /chunk_status        uint8 per coded chunk: 0 received, 1 missing, 2 corrupted, 3 concealed (lost and filled);
                         attribute ``codes`` (JSON) names them
    /chunk_table         compound per chunk: index, tile_row, tile_col, cluster, status, payload_octets
    /concealed_mask      uint8 (H, W[, C]): 1 where pixels came from concealment, not from a received chunk
    /coded_scene         uint8: the container bytes received so far (header + intact chunks), so a later pass
                         can add chunks and the product be decoded again in place
    /metrics             attributes, when a reference was supplied: psnr_db, snr_db, mse, max_abs_error[, sam_deg]
    /provenance          attributes: package name, training, decoder stage timings, link statistics
    root attributes      package_id, bitstream_version, scene_id, acquisition_time_cuc_coarse/_fine,
                         acquisition_time_utc, bit_depth, dtype, shape, tile_h, tile_w, n_chunks, cluster_bands,
                         band_ranges, product_format, conceal_method, software

Example:
    >>> res = ground.decoder.decode_scene(scene, pkg)                        # doctest: +SKIP
    >>> write_product("out/scene_00001.h5", scene, res, pkg)                 # doctest: +SKIP
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ground.decoder import STATUS_CODES, STATUS_CONCEALED, STATUS_RECEIVED, DecodedScene, decode_scene
from onboard.container import CodedScene

PRODUCT_FORMAT = "satcomp-product-1"
CONCEAL_METHOD = ("row/column linear interpolation from the nearest received pixels, averaged "
                  "(ground.concealment); a band with no received pixel is filled with mid-range")
CHUNK_TABLE_DTYPE = np.dtype([("index", "u4"), ("tile_row", "u4"), ("tile_col", "u4"), ("cluster", "u2"),
                              ("status", "u1"), ("payload_octets", "u4")])


def product_name(scene_id: int) -> str:
    return f"scene_{scene_id:08d}.h5"


def _status_with_concealment(res: DecodedScene, concealed: bool) -> np.ndarray:
    status = res.chunk_status.copy()
    if concealed:
        status[status != STATUS_RECEIVED] = STATUS_CONCEALED
    return status


def _chunk_table(scene: CodedScene, status: np.ndarray) -> np.ndarray:
    h = scene.header
    sizes = {c.index: len(c.payload) for c in scene.chunks}
    table = np.zeros(h.n_chunks, CHUNK_TABLE_DTYPE)
    for i in range(h.n_chunks):
        r, c, k = h.chunk_position(i)
        table[i] = (i, r, c, k, status[i], sizes.get(i, 0))
    return table


def _concealed_mask(res: DecodedScene, two_d: bool) -> np.ndarray:
    mask = (~res.pixel_valid).astype(np.uint8)
    return mask[:, :, 0] if two_d else mask


def _chunks(shape: tuple[int, ...], tile_h: int, tile_w: int) -> tuple[int, ...]:
    return (min(tile_h, shape[0]), min(tile_w, shape[1])) + tuple(shape[2:])


def write_product(path: str | Path, scene: CodedScene, res: DecodedScene, package, *,
                  reference: np.ndarray | None = None, provenance: dict | None = None,
                  concealed: bool = True) -> Path:
    """Write (or overwrite) the product of one decoded scene. ``reference``: the original image, for
    metrics. ``provenance``: extra JSON-able facts (link statistics, pass, ...). Returns the path."""
    import h5py

    from ground.metrics import quality_report
    from onboard import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h = scene.header
    status = _status_with_concealment(res, concealed)
    tmp = path.with_suffix(".h5.tmp")
    with h5py.File(tmp, "w") as f:
        d = f.create_dataset("reconstruction", data=res.image, chunks=_chunks(res.image.shape, h.tile_h, h.tile_w),
                             compression="gzip", compression_opts=4, shuffle=True)
        d.attrs["description"] = ("decoded scene in its original shape and dtype; lost chunks concealed "
                                  "(see concealed_mask)")
        d.attrs["dims"] = "row, column" + (", band" if res.image.ndim == 3 else "")
        s = f.create_dataset("chunk_status", data=status)
        s.attrs["description"] = "status of every coded chunk (index = tile-major, cluster-minor)"
        s.attrs["codes"] = json.dumps({str(k): v for k, v in STATUS_CODES.items()})
        t = f.create_dataset("chunk_table", data=_chunk_table(scene, status))
        t.attrs["description"] = ("per chunk: position in the tile grid, band cluster (KLT component cluster when "
                                  "spectral is klt), status, coded octets")
        m = f.create_dataset("concealed_mask", data=_concealed_mask(res, h.two_d),
                             chunks=_chunks(res.image.shape, h.tile_h, h.tile_w), compression="gzip", shuffle=True)
        m.attrs["description"] = "1 where the pixel was concealed (no received chunk covers it), else 0"
        c = f.create_dataset("coded_scene", data=np.frombuffer(scene.to_bytes(), np.uint8))
        c.attrs["description"] = ("the received container (header + intact chunks) as octets; "
                                  "onboard.container.CodedScene.from_bytes reads it")
        f.attrs.update({
            "product_format": PRODUCT_FORMAT,
            "title": f"satcomp scene {h.scene_id}",
            "package_id": h.package_id_hex,
            "package_name": package.name,
            "bitstream_version": h.version,
            "scene_id": h.scene_id,
            "acquisition_time_cuc_coarse": h.cuc_coarse,
            "acquisition_time_cuc_fine": h.cuc_fine,
            "acquisition_time_utc": h.acquisition_time.isoformat(),
            "bit_depth": h.bit_depth,
            "dtype": h.dtype,
            "shape": list(h.shape),
            "tile_h": h.tile_h,
            "tile_w": h.tile_w,
            "n_chunks": h.n_chunks,
            "n_chunks_received": int(np.sum(res.chunk_status == STATUS_RECEIVED)),
            "cluster_bands": h.cluster_bands,
            "band_ranges": json.dumps(h.band_ranges),
            "transfer_exponent": h.transfer_exponent,
            "spectral": "klt" if h.spectral is not None else "none",
            "klt_components": h.spectral.n_components if h.spectral is not None else 0,
            "bits_per_sample": 8.0 * len(scene.to_bytes()) / int(np.prod(h.shape)),
            "conceal_method": CONCEAL_METHOD if concealed else "none",
            "software": f"satcomp {__version__}",
        })
        g = f.create_group("metrics")
        g.attrs["description"] = "quality against the reference image (absent when none was supplied)"
        if reference is not None:
            valid = res.pixel_valid.all(axis=2)
            for k, v in quality_report(reference, res.image, h.bit_depth).items():
                g.attrs[k] = v
            if not valid.all() and valid.any():
                for k, v in quality_report(reference, res.image, h.bit_depth, mask=valid).items():
                    g.attrs[f"{k}_received_only"] = v
        p = f.create_group("provenance")
        p.attrs["description"] = "how this product was made"
        p.attrs["package_training"] = json.dumps(package.manifest.get("training", {}))
        p.attrs["decoder_timings_s"] = json.dumps(res.timings_s)
        p.attrs["chunk_errors"] = json.dumps({str(k): v for k, v in res.errors.items()})
        for k, v in (provenance or {}).items():
            p.attrs[k] = v if isinstance(v, (int, float, str)) else json.dumps(v)
    tmp.replace(path)
    return path


def read_coded_scene(path: str | Path) -> CodedScene:
    """The container bytes a product holds."""
    import h5py

    with h5py.File(path, "r") as f:
        return CodedScene.from_bytes(f["coded_scene"][()].tobytes())


def merge_chunks(old: CodedScene, new: CodedScene) -> CodedScene:
    """The union of two receptions of one scene (same header required; new chunks win on a clash)."""
    if old.header.pack() != new.header.pack():
        from onboard.errors import PackageMismatchError

        raise PackageMismatchError(f"scene {new.header.scene_id}: the new chunks belong to another scene "
                                   "header (different package, geometry or acquisition)")
    chunks = old.chunk_map | new.chunk_map
    return CodedScene(old.header, [chunks[i] for i in sorted(chunks)])


def update_product(path: str | Path, new: CodedScene, package, *, reference: np.ndarray | None = None,
                   provenance: dict | None = None, workers: int | None = None) -> tuple[Path, DecodedScene]:
    """A later pass delivered more chunks of a scene: merge them with those the product holds, decode
    again and rewrite the product in place. Returns the path and the new decode result."""
    merged = merge_chunks(read_coded_scene(path), new) if Path(path).exists() else new
    res = decode_scene(merged, package, workers=workers)
    return write_product(path, merged, res, package, reference=reference, provenance=provenance), res


def read_product(path: str | Path) -> dict:
    """Everything in a product as plain Python/numpy values (datasets and attributes)."""
    import h5py

    with h5py.File(path, "r") as f:
        out = {k: f[k][()] for k in ("reconstruction", "chunk_status", "chunk_table", "concealed_mask")}
        out["attrs"] = dict(f.attrs)
        out["metrics"] = dict(f["metrics"].attrs)
        out["provenance"] = dict(f["provenance"].attrs)
    return out
