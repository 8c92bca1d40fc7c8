"""Latency, throughput and energy of an onboard encoder on each payload computer.

Two ingredients, one per question:

1. **Host measurement** (:func:`measure_latency`): ONNX Runtime on this machine, warm-up then N timed runs of
   the whole chain (g_a then h_a on g_a's output), median and p95.
2. **Roofline per target** (:func:`roofline`): for every node, ``time = max(ops / (peak * compute_efficiency),
   bytes / (bandwidth * bandwidth_efficiency))`` summed over nodes; MAC layers count 2 ops per MAC, int8 layers
   against the int8 peak and everything else against the fp32 peak of the unit that runs it (see
   :class:`~hw_profiles.schema.HardwareProfile`).

**Calibration.** The host is profiled both ways; ``k = measured / roofline`` on the host (per precision) says how
far a real runtime is from this roofline model, and every target's estimate is multiplied by the same ``k``.
That assumes each target's runtime reaches the same fraction of its roofline as ONNX Runtime does on the host;
both the raw roofline and the calibrated figure are reported, and the report states ``k``.

From the calibrated latency per tile: images/s (tiles/s), samples/s (``tile_h * tile_w * bands`` samples per
tile), the real-time factor against an instrument data rate (samples/s over the instrument's samples/s: >= 1
keeps up), energy per image = power of the default mode x latency, and whether weights plus the activation peak
fit in the target's memory.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from hw_profiles.loader import available_profiles, load_profile
from hw_profiles.onnx_cost import GraphCost, analyze_onnx
from hw_profiles.schema import HardwareProfile

__all__ = [
    "LatencyStats", "RooflineEstimate", "TargetEstimate", "VariantResult", "ProfileReport",
    "measure_latency", "roofline", "chain_costs", "profile_models", "profile_package", "resolve_profiles",
    "ENCODER_FILES",
]

#: variant -> the encoder's model files inside a package directory, in execution order (onboard.package names)
ENCODER_FILES = {
    "fp32": ("g_a.fp32.onnx", "h_a.fp32.onnx"),
    "int8": ("g_a.int8.onnx", "h_a.int8.onnx"),
}

_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(uint16)": np.uint16, "tensor(int16)": np.int16,
    "tensor(int32)": np.int32, "tensor(int64)": np.int64,
}


# ---------------------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LatencyStats:
    """Wall-clock latency of the whole chain on the host, in seconds."""

    median_s: float
    p95_s: float
    mean_s: float
    min_s: float
    max_s: float
    runs: int
    warmup: int
    threads: int
    provider: str
    stage_median_s: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"median_s": self.median_s, "p95_s": self.p95_s, "mean_s": self.mean_s, "min_s": self.min_s,
                "max_s": self.max_s, "runs": self.runs, "warmup": self.warmup, "threads": self.threads,
                "provider": self.provider, "stage_median_s": list(self.stage_median_s)}


@dataclass(frozen=True)
class RooflineEstimate:
    """Sum over nodes of max(compute time, memory time) on one target."""

    latency_s: float
    compute_time_s: float  # sum of per-node compute times (whether or not they bound the node)
    memory_time_s: float   # sum of per-node memory times
    compute_bound_s: float  # time in nodes where compute dominates
    memory_bound_s: float   # time in nodes where memory traffic dominates
    int8_ops: int
    fp32_ops: int
    bytes_moved: int

    @property
    def bound(self) -> str:
        return "compute" if self.compute_bound_s >= self.memory_bound_s else "memory"

    def to_dict(self) -> dict[str, Any]:
        return {"latency_s": self.latency_s, "compute_time_s": self.compute_time_s,
                "memory_time_s": self.memory_time_s, "compute_bound_s": self.compute_bound_s,
                "memory_bound_s": self.memory_bound_s, "bound": self.bound, "int8_ops": self.int8_ops,
                "fp32_ops": self.fp32_ops, "bytes_moved": self.bytes_moved}


@dataclass(frozen=True)
class TargetEstimate:
    """One target, one encoder variant."""

    profile: str
    name: str
    execution_provider: str
    compute_unit: str
    power_mode: str
    power_w: float
    roofline: RooflineEstimate
    calibration_factor: float
    latency_s: float  # calibrated
    images_per_s: float
    samples_per_s: float
    real_time_factor: float
    energy_per_image_j: float
    memory_needed_bytes: int
    fits_in_memory: bool

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "name": self.name, "execution_provider": self.execution_provider,
                "compute_unit": self.compute_unit, "power_mode": self.power_mode, "power_w": self.power_w,
                "roofline": self.roofline.to_dict(), "roofline_latency_s": self.roofline.latency_s,
                "calibration_factor": self.calibration_factor, "latency_s": self.latency_s,
                "images_per_s": self.images_per_s, "samples_per_s": self.samples_per_s,
                "real_time_factor": self.real_time_factor, "energy_per_image_j": self.energy_per_image_j,
                "memory_needed_bytes": self.memory_needed_bytes, "fits_in_memory": self.fits_in_memory}


@dataclass(frozen=True)
class VariantResult:
    """One encoder variant (fp32 or int8): static cost, host measurement, calibration and every target."""

    variant: str
    models: tuple[str, ...]
    costs: tuple[GraphCost, ...]
    host_latency: LatencyStats | None
    host_roofline_s: float
    calibration_factor: float
    calibration_note: str
    targets: tuple[TargetEstimate, ...]

    @property
    def total_macs(self) -> int:
        return sum(c.total_macs for c in self.costs)

    @property
    def int8_macs(self) -> int:
        return sum(c.int8_macs for c in self.costs)

    def to_dict(self, per_layer: bool = True) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "models": list(self.models),
            "totals": {
                "total_macs": self.total_macs,
                "int8_macs": self.int8_macs,
                "fp32_macs": self.total_macs - self.int8_macs,
                "total_flops": sum(c.total_flops for c in self.costs),
                "total_bytes": sum(c.total_bytes for c in self.costs),
                "params": sum(c.params for c in self.costs),
                "param_bytes": sum(c.param_bytes for c in self.costs),
                "activation_peak_bytes": max((c.activation_peak_bytes for c in self.costs), default=0),
                "macs_per_pixel": self.total_macs / max(self.costs[0].pixels, 1) if self.costs else 0.0,
            },
            "costs": [c.to_dict() if per_layer else c.summary() for c in self.costs],
            "host_latency": self.host_latency.to_dict() if self.host_latency else None,
            "host_roofline_s": self.host_roofline_s,
            "calibration_factor": self.calibration_factor,
            "calibration": self.calibration_note,
            "targets": [t.to_dict() for t in self.targets],
        }


@dataclass(frozen=True)
class ProfileReport:
    """Everything ``satcomp profile`` prints, saves as JSON and draws."""

    package: str
    tile: tuple[int, int]
    bands: int
    input_shape: tuple[int, ...]
    instrument_msps: float
    runs: int
    threads: int
    host: Mapping[str, Any]
    variants: tuple[VariantResult, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self, per_layer: bool = True) -> dict[str, Any]:
        return {
            "package": self.package,
            "tile": list(self.tile),
            "bands": self.bands,
            "input_shape": list(self.input_shape),
            "samples_per_tile": self.tile[0] * self.tile[1] * self.bands,
            "instrument_msps": self.instrument_msps,
            "runs": self.runs,
            "threads": self.threads,
            "host": dict(self.host),
            "calibration": {v.variant: {"factor": v.calibration_factor, "note": v.calibration_note}
                            for v in self.variants},
            "method": ("roofline per node: max(ops/(peak*compute_efficiency), bytes/(bw*bandwidth_efficiency)), "
                       "int8 MAC layers against the int8 peak, the rest against the fp32 peak; "
                       "calibrated by the host's measured/roofline ratio; energy = default-mode power x latency"),
            "variants": [v.to_dict(per_layer) for v in self.variants],
            "notes": list(self.notes),
        }

    def to_json(self, path: str | os.PathLike | None = None, *, per_layer: bool = True, indent: int = 2) -> str:
        text = json.dumps(self.to_dict(per_layer), indent=indent, default=_json_default)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def to_text(self) -> str:
        return format_table(self)

    def plot(self, path: str | os.PathLike) -> Path:
        return plot_report(self, path)

    def write(self, out_dir: str | os.PathLike, stem: str = "profile") -> dict[str, Path]:
        """Write ``<stem>.json``, ``<stem>.txt`` and ``<stem>.png`` under ``out_dir``; return their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": out / f"{stem}.json", "text": out / f"{stem}.txt", "png": out / f"{stem}.png"}
        self.to_json(paths["json"])
        paths["text"].write_text(self.to_text() + "\n", encoding="utf-8")
        self.plot(paths["png"])
        return paths


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ---------------------------------------------------------------------------------------------------------
# host measurement
# ---------------------------------------------------------------------------------------------------------
def measure_latency(model_paths: str | os.PathLike | Sequence[str | os.PathLike],
                    input_shape: Sequence[int], *, runs: int = 10, warmup: int = 2, threads: int | None = None,
                    provider: str = "CPUExecutionProvider", seed: int = 0) -> LatencyStats:
    """Median/p95 latency of ONNX Runtime running ``model_paths`` in sequence (each on the previous output).

    ``threads`` sets ``intra_op_num_threads`` (``None``: ORT's default); inter-op is 1 (sequential graph).
    """
    import onnxruntime as ort

    if isinstance(model_paths, (str, os.PathLike)):
        model_paths = [model_paths]
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    so = ort.SessionOptions()
    if threads is not None:
        so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    sessions = [ort.InferenceSession(str(p), so, providers=[provider]) for p in model_paths]
    first = sessions[0].get_inputs()[0]
    dtype = _ORT_TYPES.get(first.type, np.float32)
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.floating):
        x0 = rng.random(tuple(input_shape)).astype(dtype)
    else:
        x0 = rng.integers(0, 255, size=tuple(input_shape)).astype(dtype)

    def run_once() -> list[float]:
        x = x0
        stage = []
        for s in sessions:
            t0 = time.perf_counter()
            x = s.run(None, {s.get_inputs()[0].name: x})[0]
            stage.append(time.perf_counter() - t0)
        return stage

    for _ in range(max(warmup, 0)):
        run_once()
    per_stage = np.array([run_once() for _ in range(runs)])  # (runs, stages)
    totals = per_stage.sum(axis=1)
    return LatencyStats(
        median_s=float(np.median(totals)), p95_s=float(np.percentile(totals, 95)), mean_s=float(totals.mean()),
        min_s=float(totals.min()), max_s=float(totals.max()), runs=int(runs), warmup=int(max(warmup, 0)),
        threads=int(threads) if threads is not None else 0, provider=provider,
        stage_median_s=tuple(float(v) for v in np.median(per_stage, axis=0)))


# ---------------------------------------------------------------------------------------------------------
# roofline
# ---------------------------------------------------------------------------------------------------------
def roofline(costs: GraphCost | Iterable[GraphCost], profile: HardwareProfile) -> RooflineEstimate:
    """Roofline latency of ``costs`` (one graph or a chain) on ``profile``."""
    if isinstance(costs, GraphCost):
        costs = [costs]
    fp32_peak = profile.peak_fp32_gflops * 1e9 * profile.compute_efficiency
    int8_peak = profile.peak_int8_gops * 1e9 * profile.compute_efficiency
    bw = profile.memory_bandwidth_gbps * 1e9 * profile.bandwidth_efficiency
    total = t_comp = t_mem = cb = mb = 0.0
    int8_ops = fp32_ops = nbytes = 0
    for cost in costs:
        for layer in cost.layers:
            if layer.role == "constant":  # folded at load time by every runtime
                continue
            mac_ops = 2 * layer.macs
            if layer.precision == "int8":
                tc = mac_ops / int8_peak + layer.flops / fp32_peak
                int8_ops += mac_ops
                fp32_ops += layer.flops
            else:
                tc = (mac_ops + layer.flops) / fp32_peak
                fp32_ops += mac_ops + layer.flops
            tm = layer.bytes_moved / bw
            nbytes += layer.bytes_moved
            t = max(tc, tm)
            total += t
            t_comp += tc
            t_mem += tm
            if tc >= tm:
                cb += t
            else:
                mb += t
    return RooflineEstimate(latency_s=total, compute_time_s=t_comp, memory_time_s=t_mem, compute_bound_s=cb,
                            memory_bound_s=mb, int8_ops=int8_ops, fp32_ops=fp32_ops, bytes_moved=nbytes)


def chain_costs(model_paths: Sequence[str | os.PathLike], input_shape: Sequence[int]) -> tuple[GraphCost, ...]:
    """Static cost of models run in sequence: each later model gets the previous model's first output shape."""
    costs = []
    shape = tuple(int(d) for d in input_shape)
    for p in model_paths:
        c = analyze_onnx(p, shape)
        costs.append(c)
        shape = c.first_output_shape
    return tuple(costs)


# ---------------------------------------------------------------------------------------------------------
# putting it together
# ---------------------------------------------------------------------------------------------------------
def resolve_profiles(profiles: str | HardwareProfile | Sequence[str | HardwareProfile]) -> list[HardwareProfile]:
    """``"all"``, one name, a comma-separated list, or a sequence of names/profiles -> loaded profiles."""
    if isinstance(profiles, HardwareProfile):
        return [profiles]
    if isinstance(profiles, str):
        names = available_profiles() if profiles.strip() == "all" else [s.strip() for s in profiles.split(",")
                                                                         if s.strip()]
        return [load_profile(n) for n in names]
    return [p if isinstance(p, HardwareProfile) else load_profile(p) for p in profiles]


def profile_models(model_paths: Sequence[str | os.PathLike], profiles: Any = "all", *,
                   input_shape: Sequence[int], variant: str = "fp32", runs: int = 10, warmup: int = 2,
                   threads: int | None = None, instrument_msps: float = 10.0,
                   host: HardwareProfile | None = None) -> VariantResult:
    """Profile one chain of ONNX models (e.g. g_a then h_a) at ``input_shape`` on every target.

    ``runs=0`` skips the host measurement (no calibration: factor 1). ``threads`` defaults to the host
    profile's ``threads``.
    """
    if instrument_msps <= 0:
        raise ValueError(f"instrument_msps must be positive, got {instrument_msps}")
    host = host or load_profile("host")
    targets = resolve_profiles(profiles)
    input_shape = tuple(int(d) for d in input_shape)
    paths = tuple(str(p) for p in model_paths)
    costs = chain_costs(paths, input_shape)
    host_roof = roofline(costs, host).latency_s
    threads = host.threads if threads is None else int(threads)
    if runs > 0:
        stats = measure_latency(paths, input_shape, runs=runs, warmup=warmup, threads=threads,
                                provider=host.onnx_execution_provider)
        k = stats.median_s / host_roof if host_roof > 0 else 1.0
        note = (f"k = host measured median {stats.median_s * 1e3:.3f} ms (ONNX Runtime "
                f"{host.onnx_execution_provider}, {threads} threads, {runs} runs) / host roofline "
                f"{host_roof * 1e3:.3f} ms = {k:.3f}; every target's roofline latency is multiplied by k, assuming "
                f"its runtime reaches the same fraction of its roofline as ONNX Runtime does on the host")
    else:
        stats = None
        k = 1.0
        note = "uncalibrated (no host measurement, runs=0): k = 1, latencies are the raw roofline"

    n, c = input_shape[0], (input_shape[1] if len(input_shape) == 4 else 1)
    samples = n * c * int(np.prod(input_shape[-2:]))
    weights = sum(cst.param_bytes for cst in costs)
    act_peak = max(cst.activation_peak_bytes for cst in costs)
    out = []
    for prof in targets:
        est = roofline(costs, prof)
        lat = est.latency_s * k
        ips = 1.0 / lat if lat > 0 else float("inf")
        sps = samples * ips
        need = int(weights + act_peak)
        out.append(TargetEstimate(
            profile=prof.key, name=prof.name, execution_provider=prof.onnx_execution_provider,
            compute_unit=prof.compute_unit, power_mode=prof.default_power_mode, power_w=prof.default_power_w,
            roofline=est, calibration_factor=k, latency_s=lat, images_per_s=ips, samples_per_s=sps,
            real_time_factor=sps / (instrument_msps * 1e6), energy_per_image_j=prof.default_power_w * lat,
            memory_needed_bytes=need, fits_in_memory=need <= prof.memory_gb * 1e9))
    return VariantResult(variant=variant, models=paths, costs=costs, host_latency=stats, host_roofline_s=host_roof,
                         calibration_factor=k, calibration_note=note, targets=tuple(out))


def _input_channels(path: str | os.PathLike) -> int | None:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    inits = {t.name: t for t in m.graph.initializer}
    real = [i for i in m.graph.input if i.name not in inits]
    if real:
        dims = real[0].type.tensor_type.shape.dim
        if len(dims) >= 2 and dims[1].HasField("dim_value") and dims[1].dim_value > 0:
            return int(dims[1].dim_value)
    for node in m.graph.node:  # first convolution's weight: (M, C/group, k, k)
        if node.op_type in ("Conv", "ConvInteger") and len(node.input) > 1 and node.input[1] in inits:
            return int(inits[node.input[1]].dims[1])
    return None


def profile_package(package_dir: str | os.PathLike, profiles: Any = "all", *, tile: Sequence[int] = (512, 512),
                    variants: Sequence[str] = ("fp32", "int8"), runs: int = 10, warmup: int = 2,
                    threads: int | None = None, instrument_msps: float = 10.0) -> ProfileReport:
    """Profile a model package's encoder (g_a then h_a on g_a's output) for each variant present.

    ``package_dir`` holds ``manifest.json`` and ``g_a.<variant>.onnx`` / ``h_a.<variant>.onnx`` (in the folder, or
    for a format-2 package in the ``_shared`` store beside it, see :mod:`onboard.package`). The band count is
    g_a's input channel count. Variants whose files are missing are skipped and noted.
    """
    import json

    from onboard.package import resolve_file

    pkg = Path(package_dir)
    if not pkg.is_dir():
        raise FileNotFoundError(f"model package directory not found: {pkg}")
    if not (pkg / "manifest.json").is_file():
        raise FileNotFoundError(f"{pkg} is not a model package: no manifest.json")
    tile = (int(tile[0]), int(tile[1]))
    if min(tile) <= 0:
        raise ValueError(f"tile must be positive, got {tile}")
    host = load_profile("host")
    targets = resolve_profiles(profiles)
    notes: list[str] = []
    results = []
    bands = None
    digests = json.loads((pkg / "manifest.json").read_text()).get("files", {})
    for v in variants:
        if v not in ENCODER_FILES:
            raise ValueError(f"unknown variant {v!r}; known: {sorted(ENCODER_FILES)}")
        files = [resolve_file(pkg, f, digests.get(f)) or pkg / f for f in ENCODER_FILES[v]]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            notes.append(f"variant {v} skipped: missing {', '.join(missing)}")
            continue
        if bands is None:
            bands = _input_channels(files[0]) or 3
        results.append(profile_models(files, targets, input_shape=(1, bands, *tile), variant=v, runs=runs,
                                      warmup=warmup, threads=threads, instrument_msps=instrument_msps, host=host))
    if not results:
        raise FileNotFoundError(f"{pkg}: no encoder files for variants {list(variants)} "
                                f"(expected {[ENCODER_FILES[v] for v in variants if v in ENCODER_FILES]})")
    host_info = {"profile": host.key, "threads": host.threads if threads is None else int(threads),
                 "cpu_cores": host.cpu_cores, "cpu_clock_ghz": host.cpu_clock_ghz,
                 "peak_fp32_gflops": host.peak_fp32_gflops, "peak_int8_gops": host.peak_int8_gops,
                 "memory_bandwidth_gbps": host.memory_bandwidth_gbps, "auto_notes": dict(host.auto_notes)}
    return ProfileReport(package=str(pkg), tile=tile, bands=int(bands), input_shape=(1, int(bands), *tile),
                         instrument_msps=float(instrument_msps), runs=int(runs),
                         threads=int(host_info["threads"]), host=host_info, variants=tuple(results),
                         notes=tuple(notes))


# ---------------------------------------------------------------------------------------------------------
# text and picture
# ---------------------------------------------------------------------------------------------------------
def _fmt(x: float, digits: int = 3) -> str:
    if x == float("inf"):
        return "inf"
    if x == 0:
        return "0"
    if abs(x) >= 1000 or abs(x) < 0.01:
        return f"{x:.2e}"
    return f"{x:.{digits}g}"


def format_table(report: ProfileReport) -> str:
    lines = [f"package {report.package}  tile {report.tile[0]}x{report.tile[1]}x{report.bands}  "
             f"instrument {report.instrument_msps:g} Msample/s"]
    for v in report.variants:
        lines.append("")
        head = (f"[{v.variant}] encoder {' -> '.join(Path(m).name for m in v.models)}: "
                f"{v.total_macs / 1e9:.3f} GMAC ({v.int8_macs / 1e9:.3f} int8), "
                f"{v.total_macs / max(v.costs[0].pixels, 1):.0f} MAC/pixel, "
                f"params {sum(c.params for c in v.costs):,}, "
                f"activation peak {max(c.activation_peak_bytes for c in v.costs) / 2**20:.1f} MiB")
        lines.append(head)
        if v.host_latency is not None:
            h = v.host_latency
            lines.append(f"host measured: median {h.median_s * 1e3:.3f} ms, p95 {h.p95_s * 1e3:.3f} ms "
                         f"({h.runs} runs, {h.threads} threads)")
        lines.append(f"calibration: {v.calibration_note}")
        cols = ["target", "EP", "unit", "roofline ms", "calib. ms", "img/s", "Msample/s",
                f"RTF@{report.instrument_msps:g}", "power W", "J/img", "bound", "fits"]
        rows = []
        for t in v.targets:
            rows.append([t.profile, t.execution_provider.replace("ExecutionProvider", ""), t.compute_unit,
                         _fmt(t.roofline.latency_s * 1e3), _fmt(t.latency_s * 1e3), _fmt(t.images_per_s),
                         _fmt(t.samples_per_s / 1e6), _fmt(t.real_time_factor), _fmt(t.power_w),
                         _fmt(t.energy_per_image_j), t.roofline.bound, "yes" if t.fits_in_memory else "NO"])
        widths = [max(len(str(r[i])) for r in rows + [cols]) for i in range(len(cols))]
        lines.append("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
        lines.append("  ".join("-" * w for w in widths))
        for r in rows:
            lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def plot_report(report: ProfileReport, path: str | os.PathLike) -> Path:
    """Grouped bars per target: calibrated latency per tile and real-time factor (log scales). Agg, no pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keys = [t.profile for t in report.variants[0].targets]
    fig = Figure(figsize=(max(8.0, 1.1 * len(keys) + 3), 7.5))
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(keys))
    nvar = len(report.variants)
    width = 0.8 / nvar
    for i, v in enumerate(report.variants):
        by = {t.profile: t for t in v.targets}
        lat = [by[k].latency_s * 1e3 if k in by else np.nan for k in keys]
        rtf = [by[k].real_time_factor if k in by else np.nan for k in keys]
        off = (i - (nvar - 1) / 2) * width
        ax1.bar(x + off, lat, width, label=v.variant)
        ax2.bar(x + off, rtf, width, label=v.variant)
    ax1.set_yscale("log")
    ax1.set_ylabel("latency per tile (ms, calibrated)")
    ax1.set_title(f"{Path(report.package).name}: encoder on {report.tile[0]}x{report.tile[1]}x{report.bands} tiles")
    ax1.legend()
    ax1.grid(axis="y", which="both", alpha=0.3)
    ax2.set_yscale("log")
    ax2.axhline(1.0, color="k", lw=1, ls="--")
    ax2.set_ylabel(f"real-time factor @ {report.instrument_msps:g} Msample/s")
    ax2.grid(axis="y", which="both", alpha=0.3)
    ax2.set_xticks(x)
    ax2.set_xticklabels(keys, rotation=30, ha="right")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out
