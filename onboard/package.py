"""Model packages: the directory a trained codec ships as, identified by a content hash.

A package directory holds::

    manifest.json        what the package is (see below) and the sha256 of every other file
    g_a.fp32.onnx        analysis transform (input "x" float32 (B, bands, H, W) in [0, 1], output "y" (B, M, H/16,
    g_a.int8.onnx        W/16)); int8 = static QDQ, per-channel, QUInt8 activations
    h_a.fp32.onnx        hyper-analysis (input "y", output "z" (B, Nz, H/64, W/64))
    h_a.int8.onnx
    g_s.fp32.onnx        synthesis (input "y_hat" float32, output "x_hat"), ground only
    h_s.int.npz          NORMATIVE integer hyper-synthesis parameters (:class:`~onboard.integer_hs.IntegerHyperSynthesis`)
    h_s.int.onnx         the same network as an all-integer ONNX graph
    y_tables.bin         frozen Gaussian CDF tables of y (:meth:`CdfTables.to_bytes`), index i = scale_table[i]
    z_tables.bin         frozen factorized-prior CDF tables of z, one per z channel
    rate.npz             (format 2) what makes this rate point: ``gain`` float32 (M,) and the integer h_s
                         ``thresholds`` int64 (M, 63)

Two formats are read:

- **format 1**: the rate point's gain is folded into the graphs (``g_a`` multiplies ``y`` by it, ``h_a`` and
  ``g_s`` divide it back out) and the thresholds into ``h_s.int.npz``/``h_s.int.onnx``; every file is the
  package's own.
- **format 2** (what :mod:`onboard.models.export` writes): the graphs and the integer h_s layers are the same
  for every rate point of a family, and ``rate.npz`` holds what differs. The runtime multiplies ``g_a``'s
  output by ``gain`` (the encoder codes ``round(y * gain)``; ``h_a`` takes the un-gained ``y``) and divides
  ``y_hat`` by it before ``g_s``; the all-integer h_s graph takes the thresholds as its second input. Files
  that several packages share are stored once, content-addressed, in the ``_shared/`` folder beside the
  package folders (``_shared/<first 20 hex digits of the sha256>-<name>``): a file the manifest lists but
  the package folder lacks is read from there. A family of eight rate points then ships one set of graphs
  (about 10 MB) instead of eight.

``manifest.json`` fields: ``format`` ("satcomp-model-package"), ``format_version``, ``package_id`` (sha256 hex of
the canonical manifest without that field, which lists every file's sha256, shared ones included), ``name``,
``bitstream_version``, ``architecture`` (``type``, ``bands``, ``n``, ``m``, ``nz``, ``cluster_bands`` or null,
``latent_stride``, ``hyper_stride``), ``rate`` (``index``, ``lambda``), ``scale_table``, ``files``, ``training``,
and optionally ``encoder`` (hints only the encoder reads: ``distortion_per_step``).

Loading verifies every file's hash and the package id, so a package whose files were changed is refused
(:class:`PackageCorruptError`) instead of decoding garbage. Sessions of ONNX Runtime are created lazily and cached.

Example:
    >>> import onboard
    >>> pkg = onboard.zoo.load(onboard.zoo.available()[0])      # doctest: +SKIP
    >>> pkg.package_id[:12], pkg.bands, pkg.cluster_bands         # doctest: +SKIP
    ('3f0c...', 3, None)
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from onboard.container import BITSTREAM_VERSION
from onboard.errors import MissingDependencyError, ProviderUnavailableError, SatcompError

PACKAGE_FORMAT = "satcomp-model-package"
PACKAGE_FORMAT_VERSION = 2  # what the exporter writes
READABLE_FORMAT_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
SHARED_DIR = "_shared"  # content-addressed files shared by the packages of one folder (format 2)
SHARED_HASH_DIGITS = 20
ONNX_FILES = {
    ("g_a", "fp32"): "g_a.fp32.onnx",
    ("g_a", "int8"): "g_a.int8.onnx",
    ("h_a", "fp32"): "h_a.fp32.onnx",
    ("h_a", "int8"): "h_a.int8.onnx",
    ("g_s", "fp32"): "g_s.fp32.onnx",
    ("h_s", "int"): "h_s.int.onnx",
}
HS_PARAMS = "h_s.int.npz"
Y_TABLES = "y_tables.bin"
Z_TABLES = "z_tables.bin"
RATE_FILE = "rate.npz"
PRECISIONS = ("int8", "fp32")
TARGETS = ("cpu", "cuda")
_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class PackageCorruptError(SatcompError, ValueError):
    """A package directory is incomplete, or a file does not match the hash its manifest records."""


class PackageNotFoundError(SatcompError, FileNotFoundError):
    """No package under the given name or path."""


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shared_name(name: str, digest: str) -> str:
    """File name of ``name`` with sha256 ``digest`` in a ``_shared/`` store."""
    return f"{digest[:SHARED_HASH_DIGITS]}-{name}"


def resolve_file(package_dir: Path, name: str, digest: str | None) -> Path | None:
    """Where a package's file lives: its own folder, else the ``_shared/`` store beside it; None if neither."""
    own = Path(package_dir) / name
    if own.is_file():
        return own
    if digest:
        shared = Path(package_dir).parent / SHARED_DIR / shared_name(name, digest)
        if shared.is_file():
            return shared
    return None


def canonical_manifest_bytes(manifest: dict) -> bytes:
    """The bytes the package id hashes: the manifest without ``package_id``, sorted keys, compact JSON."""
    body = {k: v for k, v in manifest.items() if k != "package_id"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def compute_package_id(manifest: dict) -> str:
    """sha256 hex of :func:`canonical_manifest_bytes` (which covers every file through its hash)."""
    return hashlib.sha256(canonical_manifest_bytes(manifest)).hexdigest()


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def session_providers(target: str) -> list[str]:
    """ONNX Runtime providers for a target; a clear :class:`ProviderUnavailableError` when CUDA is absent."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    provider = _PROVIDERS[target]
    have = available_providers()
    if provider not in have:
        raise ProviderUnavailableError(
            f"target {target!r} needs ONNX Runtime's {provider}, which this installation does not have "
            f"(available: {', '.join(have)}). Install onnxruntime-gpu with a matching CUDA runtime, or use "
            f"target='cpu'.")
    return [provider] if target == "cpu" else [provider, "CPUExecutionProvider"]


@dataclass(frozen=True, eq=False)
class ModelPackage:
    """A loaded model package (see module docstring). Build it with :func:`load_package`."""

    path: Path
    manifest: dict
    _sessions: dict = field(default_factory=dict, repr=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False)

    # --- identity -----------------------------------------------------------------------------------
    @property
    def package_id(self) -> str:
        """Content hash (sha256 hex) that every coded chunk names."""
        return self.manifest["package_id"]

    @property
    def package_id_bytes(self) -> bytes:
        return bytes.fromhex(self.package_id)

    @property
    def name(self) -> str:
        return self.manifest.get("name", self.path.name)

    @property
    def bitstream_version(self) -> int:
        return int(self.manifest["bitstream_version"])

    # --- architecture --------------------------------------------------------------------------------
    @property
    def architecture(self) -> dict:
        return self.manifest["architecture"]

    @property
    def bands(self) -> int:
        """Bands the network takes per pass: all bands of an image package, B for a clustered one."""
        return int(self.architecture["bands"])

    @property
    def cluster_bands(self) -> int | None:
        """``None`` for an image package, B for a channel-clustered one."""
        cb = self.architecture.get("cluster_bands")
        return None if cb is None else int(cb)

    @property
    def spectral(self) -> str:
        """What a clustered package was trained to code: ``"klt"`` (spectral KLT components, see
        :mod:`onboard.spectral`) or ``"none"`` (bands)."""
        return str(self.architecture.get("spectral", "none"))

    @property
    def latent_channels(self) -> int:
        return int(self.architecture["m"])

    @property
    def hyper_channels(self) -> int:
        return int(self.architecture["nz"])

    @property
    def latent_stride(self) -> int:
        return int(self.architecture.get("latent_stride", 16))

    @property
    def tile_multiple(self) -> int:
        """Tiles are padded to a multiple of this (latent stride x hyper stride)."""
        return self.latent_stride * int(self.architecture.get("hyper_stride", 4))

    @property
    def lmbda(self) -> float:
        return float(self.manifest["rate"]["lambda"])

    @property
    def scale_table(self) -> np.ndarray:
        return np.asarray(self.manifest["scale_table"], dtype=np.float64)

    @property
    def format_version(self) -> int:
        return int(self.manifest.get("format_version", 1))

    def file_path(self, name: str) -> Path:
        """Path of one of the package's files (its own folder or the ``_shared/`` store beside it)."""
        p = resolve_file(self.path, name, self.manifest.get("files", {}).get(name))
        if p is None:
            raise PackageCorruptError(
                f"package {self.name}: {name} is missing (neither in {self.path} nor in "
                f"{self.path.parent / SHARED_DIR}; copy a format-2 package together with its _shared folder)")
        return p

    # --- frozen parts both ends must agree on ------------------------------------------------------
    @cached_property
    def y_tables(self):
        from onboard.entropy import CdfTables

        return CdfTables.from_bytes(self.file_path(Y_TABLES).read_bytes())

    @cached_property
    def z_tables(self):
        from onboard.entropy import CdfTables

        return CdfTables.from_bytes(self.file_path(Z_TABLES).read_bytes())

    @cached_property
    def _rate_arrays(self) -> dict[str, np.ndarray] | None:
        if self.format_version < 2:
            return None
        import io

        with np.load(io.BytesIO(self.file_path(RATE_FILE).read_bytes()), allow_pickle=False) as f:
            return {k: f[k] for k in f.files}

    @cached_property
    def gain(self) -> np.ndarray | None:
        """The rate point's per-channel gain, float32 (M,): the encoder codes ``round(g_a(x) * gain)``.
        ``None`` for a format-1 package, whose graphs carry it."""
        r = self._rate_arrays
        if r is None:
            return None
        g = np.asarray(r["gain"], dtype=np.float32)
        if g.shape != (self.latent_channels,) or not np.all(np.isfinite(g)) or not np.all(g > 0):
            raise PackageCorruptError(f"package {self.name}: gain must be {self.latent_channels} positive "
                                      f"finite float32 values, got shape {g.shape}")
        return g

    @cached_property
    def distortion_per_step(self) -> np.ndarray | None:
        """Encoder hint, float64 (M,): squared error (summed over the [0, 1]-normalised output samples) that one
        step of each gained latent channel causes through ``g_s``, measured at export
        (:func:`onboard.models.distortion.measure_distortion_per_step`); the encoder's RD quantiser
        (:mod:`onboard.rd_quantise`) weighs it against bits. None for a package without it (the encoder then
        rounds with a dead zone). The decoder never reads it."""
        enc = self.manifest.get("encoder") or {}
        if not isinstance(enc, dict):
            raise PackageCorruptError(f"package {self.name}: manifest field encoder must be an object")
        d = enc.get("distortion_per_step")
        if d is None:
            return None
        try:
            arr = np.asarray(d, dtype=np.float64)
        except (TypeError, ValueError):
            arr = np.zeros(0)
        if arr.shape != (self.latent_channels,) or not np.all(np.isfinite(arr)) or not np.all(arr > 0):
            raise PackageCorruptError(f"package {self.name}: encoder.distortion_per_step must be "
                                      f"{self.latent_channels} positive finite numbers")
        return arr

    @cached_property
    def inverse_gain(self) -> np.ndarray | None:
        """float32 ``1 / gain`` (M,), what the ground multiplies ``y_hat`` by before ``g_s``; None for format 1."""
        g = self.gain
        return None if g is None else (np.float32(1.0) / g).astype(np.float32)

    @cached_property
    def hyper_synthesis(self):
        """The normative integer hyper-synthesis (numpy int64)."""
        from onboard.integer_hs import IntegerHyperSynthesis

        r = self._rate_arrays
        return IntegerHyperSynthesis.from_npz_bytes(self.file_path(HS_PARAMS).read_bytes(),
                                                    thresholds=None if r is None else r["thresholds"])

    def hs_onnx_feed(self, z_hat: np.ndarray) -> dict[str, np.ndarray]:
        """Inputs of the all-integer h_s graph for ``z_hat`` (format 2 adds the rate's thresholds)."""
        feed = {"z_hat": np.asarray(z_hat, dtype=np.int32)}
        if self.format_version >= 2:
            feed["thresholds"] = np.ascontiguousarray(self.hyper_synthesis.thresholds, dtype=np.int64)
        return feed

    def onnx_path(self, which: str, precision: str = "fp32") -> Path:
        key = (which, precision)
        if key not in ONNX_FILES:
            raise ValueError(f"no ONNX model {which!r} at precision {precision!r}; "
                             f"have {sorted(ONNX_FILES)}")
        return self.file_path(ONNX_FILES[key])

    # --- ONNX Runtime -------------------------------------------------------------------------------
    def session(self, which: str, precision: str = "fp32", target: str = "cpu", threads: int | None = None):
        """A cached ``onnxruntime.InferenceSession`` for one model of the package.

        ``threads``: intra-op threads (``None``: ONNX Runtime's default). Raises
        :class:`ProviderUnavailableError` when ``target="cuda"`` and the CUDA provider is absent.
        """
        if precision not in PRECISIONS and precision != "int":
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        key = (which, precision, target, threads)
        with self._lock:
            sess = self._sessions.get(key)
            if sess is None:
                try:
                    import onnxruntime as ort
                except ImportError as exc:  # pragma: no cover - a hard dependency
                    raise MissingDependencyError("onnxruntime is required to run model packages") from exc
                providers = session_providers(target)
                opts = ort.SessionOptions()
                opts.log_severity_level = 3
                if threads is not None:
                    opts.intra_op_num_threads = int(threads)
                    opts.inter_op_num_threads = 1
                sess = ort.InferenceSession(str(self.onnx_path(which, precision)), sess_options=opts,
                                            providers=providers)
                self._sessions[key] = sess
            return sess

    def __reduce__(self):
        # pickles as its path (sessions and locks stay behind): a Dask worker reloads it from the same path
        return (_reload, (str(self.path), self.package_id))

    def __repr__(self) -> str:
        cb = "" if self.cluster_bands is None else f", cluster_bands={self.cluster_bands}"
        return (f"ModelPackage(name={self.name!r}, id={self.package_id[:12]}..., bands={self.bands}{cb}, "
                f"lambda={self.lmbda})")


def post_filter_spec(architecture: dict) -> tuple[int, int]:
    """(channels, stages) of the ground post-filter an ``architecture`` names: ``post_filter`` is C (0: none),
    ``post_filter_stages`` how many :class:`onboard.models.export.PostFilter` blocks follow one another
    (absent: 1, as in every package written before stages existed). Metadata only: the ground runs whatever
    ``g_s`` graph the package holds; training tools rebuild the torch decoder from it.

    >>> post_filter_spec({"post_filter": 32}), post_filter_spec({"post_filter": 32, "post_filter_stages": 2})
    ((32, 1), (32, 2))
    >>> post_filter_spec({})
    (0, 0)
    """
    channels = int(architecture.get("post_filter", 0))
    if not channels:
        return 0, 0
    stages = int(architecture.get("post_filter_stages", 1))
    if stages < 1:
        raise ValueError(f"post_filter_stages must be >= 1, got {stages}")
    return channels, stages


def read_manifest(path: Path) -> dict:
    mpath = Path(path) / MANIFEST
    if not mpath.is_file():
        raise PackageNotFoundError(f"{path}: not a model package (no {MANIFEST})")
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as exc:
        raise PackageCorruptError(f"{mpath}: invalid JSON ({exc})") from exc
    if manifest.get("format") != PACKAGE_FORMAT:
        raise PackageCorruptError(f"{mpath}: format {manifest.get('format')!r} is not {PACKAGE_FORMAT!r}")
    return manifest


def load_package(path: str | Path, verify: bool = True) -> ModelPackage:
    """Load the package in directory ``path``.

    ``verify=True`` checks every file against the sha256 in the manifest and the package id against the
    manifest, raising :class:`PackageCorruptError` on any difference. A path that holds no package raises
    :class:`PackageNotFoundError`.
    """
    if isinstance(path, ModelPackage):
        return path
    p = Path(path)
    manifest = read_manifest(p)
    fv = manifest.get("format_version")
    if fv not in READABLE_FORMAT_VERSIONS:
        raise PackageCorruptError(f"{p}: package format version {fv} not supported "
                                  f"(this build reads {', '.join(map(str, READABLE_FORMAT_VERSIONS))})")
    bv = manifest.get("bitstream_version")
    if bv != BITSTREAM_VERSION:
        raise PackageCorruptError(f"{p}: package bitstream version {bv}, this build codes version "
                                  f"{BITSTREAM_VERSION}")
    if verify:
        for name, digest in manifest["files"].items():
            fp = resolve_file(p, name, digest)
            if fp is None:
                raise PackageCorruptError(f"{p}: file {name} listed in the manifest is missing (looked in the "
                                          f"package folder and in {p.parent / SHARED_DIR})")
            found = _sha256_file(fp)
            if found != digest:
                raise PackageCorruptError(f"{p}: {name} has sha256 {found[:16]}..., manifest says "
                                          f"{digest[:16]}...")
        pid = compute_package_id(manifest)
        if pid != manifest.get("package_id"):
            raise PackageCorruptError(f"{p}: package id {str(manifest.get('package_id'))[:16]}... does not match "
                                      f"its content ({pid[:16]}...)")
    return ModelPackage(path=p, manifest=manifest)


def _reload(path: str, package_id: str) -> ModelPackage:
    pkg = load_package(path)
    if pkg.package_id != package_id:
        raise PackageCorruptError(f"{path}: package changed on disk (id {pkg.package_id[:16]}..., expected "
                                  f"{package_id[:16]}...)")
    return pkg


def write_manifest(path: Path, manifest: dict, format_version: int = PACKAGE_FORMAT_VERSION) -> dict:
    """Fill ``files`` with the sha256 of every file in ``path`` (but the manifest), set ``package_id`` and
    write ``manifest.json``. Returns the final manifest."""
    path = Path(path)
    files = {f.name: _sha256_file(f) for f in sorted(path.iterdir()) if f.is_file() and f.name != MANIFEST}
    manifest = dict(manifest, files=files, format=PACKAGE_FORMAT, format_version=format_version)
    manifest["package_id"] = compute_package_id(manifest)
    (path / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def rewrite_manifest(path: Path, manifest: dict) -> dict:
    """Write ``manifest`` (its ``files`` kept as they are, so shared files stay listed) to ``path`` with a
    recomputed ``package_id``. For fields beside the files, such as the encoder hints. Returns it."""
    manifest = dict(manifest)
    manifest["package_id"] = compute_package_id(manifest)
    (Path(path) / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def share_files(path: Path, names: list[str]) -> list[Path]:
    """Move the files ``names`` of the written package ``path`` into the ``_shared/`` store beside it
    (content-addressed; a file already there with the same hash is not duplicated). The manifest is
    unchanged: it lists every file by hash wherever it lives. Returns the store paths."""
    path = Path(path)
    files = read_manifest(path)["files"]
    store = path.parent / SHARED_DIR
    store.mkdir(exist_ok=True)
    out = []
    for name in names:
        src = path / name
        digest = files[name]
        dst = store / shared_name(name, digest)
        if dst.is_file() and _sha256_file(dst) == digest:
            src.unlink()
        else:
            src.replace(dst)
        out.append(dst)
    return out


def prune_shared(root: str | Path) -> list[Path]:
    """Delete the files of ``root/_shared`` that no package in ``root`` lists; return what was deleted."""
    root = Path(root)
    store = root / SHARED_DIR
    if not store.is_dir():
        return []
    used = set()
    for d in root.iterdir():
        if (d / MANIFEST).is_file():
            used.update(shared_name(n, h) for n, h in read_manifest(d).get("files", {}).items())
    gone = [f for f in sorted(store.iterdir()) if f.is_file() and f.name not in used]
    for f in gone:
        f.unlink()
    return gone
