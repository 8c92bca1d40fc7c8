"""Frozen description of one payload computer, validated from its TOML file.

Units are in the field names. Two of them need a word:

* ``memory_bandwidth_gbps`` is in **gigabytes** per second (GB/s, 1e9 bytes/s), the unit datasheets quote
  for DRAM bandwidth; it is not gigabits.
* ``*_peak_fp32_gflops`` is 1e9 floating-point operations per second, ``*_peak_int8_gops`` 1e9 integer
  operations per second; one multiply-accumulate (MAC) is two operations, as vendors count them.

A target has a CPU and optionally an accelerator (GPU, DPU, VPU). ``compute_unit`` says where the ONNX
execution provider runs the graph: ``"cpu"`` or ``"accelerator"``. An accelerator without an fp32 peak
(an int8-only DPU) runs int8 layers only; fp32 layers fall back to the CPU, as Vitis AI does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

COMPUTE_UNITS = ("cpu", "accelerator")
ACCELERATOR_KINDS = ("gpu", "dpu", "vpu", "npu", "fpga")

#: top-level fields that may hold the string "auto" (resolved on this machine; used by ``host.toml``)
AUTO_FIELDS = (
    "cpu_cores",
    "cpu_clock_ghz",
    "cpu_peak_fp32_gflops",
    "cpu_peak_int8_gops",
    "memory_gb",
    "memory_bandwidth_gbps",
    "threads",
)


class ProfileError(ValueError):
    """A hardware profile file is missing, unreadable or invalid. Names the file and the field."""

    def __init__(self, path: str, field_name: str | None, message: str):
        self.path = str(path)
        self.field = field_name
        where = f"{self.path}: field {field_name!r}" if field_name else self.path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class PowerMode:
    """One named power mode of a target (an nvpmodel mode, a cTDP setting, a measured operating point)."""

    name: str
    watts: float


@dataclass(frozen=True)
class Accelerator:
    """The accelerator next to the CPU. ``peak_fp32_gflops`` is ``None`` when it cannot run fp32 layers."""

    name: str
    kind: str
    clock_ghz: float
    peak_int8_gops: float
    peak_fp32_gflops: float | None = None


@dataclass(frozen=True)
class HardwareProfile:
    """A payload computer: compute peaks, memory, power modes and the ONNX Runtime provider it would use."""

    key: str  # the TOML file's stem, what ``load_profile`` takes
    name: str
    description: str
    cpu_cores: int
    cpu_clock_ghz: float
    cpu_peak_fp32_gflops: float
    cpu_peak_int8_gops: float
    memory_bandwidth_gbps: float  # GB/s (gigabytes per second)
    memory_gb: float
    power_modes: tuple[PowerMode, ...]
    default_power_mode: str
    onnx_execution_provider: str
    threads: int
    compute_efficiency: float  # fraction of the peak a real runtime reaches on conv layers (assumption)
    bandwidth_efficiency: float  # fraction of the DRAM peak a real runtime reaches (assumption)
    compute_unit: str = "cpu"
    accelerator: Accelerator | None = None
    source_path: str = ""
    #: field name -> how an "auto" value was obtained on this machine (empty for fixed targets)
    auto_notes: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    # -- derived figures the roofline uses -------------------------------------------------------------
    @property
    def uses_accelerator(self) -> bool:
        return self.compute_unit == "accelerator" and self.accelerator is not None

    @property
    def peak_fp32_gflops(self) -> float:
        """fp32 peak of the unit that runs fp32 layers (the CPU when the accelerator has no fp32)."""
        if self.uses_accelerator and self.accelerator.peak_fp32_gflops is not None:
            return self.accelerator.peak_fp32_gflops
        return self.cpu_peak_fp32_gflops

    @property
    def peak_int8_gops(self) -> float:
        """int8 peak of the unit that runs int8 layers."""
        if self.uses_accelerator:
            return self.accelerator.peak_int8_gops
        return self.cpu_peak_int8_gops

    @property
    def fp32_unit(self) -> str:
        if self.uses_accelerator and self.accelerator.peak_fp32_gflops is not None:
            return "accelerator"
        return "cpu"

    @property
    def power_modes_w(self) -> dict[str, float]:
        return {m.name: m.watts for m in self.power_modes}

    def power_w(self, mode: str | None = None) -> float:
        """Watts of ``mode`` (the default mode when ``None``)."""
        mode = self.default_power_mode if mode is None else mode
        for m in self.power_modes:
            if m.name == mode:
                return m.watts
        raise KeyError(f"profile {self.key!r} has no power mode {mode!r}; modes: {sorted(self.power_modes_w)}")

    @property
    def default_power_w(self) -> float:
        return self.power_w(None)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "key": self.key,
            "name": self.name,
            "description": self.description,
            "cpu_cores": self.cpu_cores,
            "cpu_clock_ghz": self.cpu_clock_ghz,
            "cpu_peak_fp32_gflops": self.cpu_peak_fp32_gflops,
            "cpu_peak_int8_gops": self.cpu_peak_int8_gops,
            "memory_bandwidth_gbps": self.memory_bandwidth_gbps,
            "memory_gb": self.memory_gb,
            "power_modes_w": self.power_modes_w,
            "default_power_mode": self.default_power_mode,
            "onnx_execution_provider": self.onnx_execution_provider,
            "threads": self.threads,
            "compute_efficiency": self.compute_efficiency,
            "bandwidth_efficiency": self.bandwidth_efficiency,
            "compute_unit": self.compute_unit,
            "peak_fp32_gflops": self.peak_fp32_gflops,
            "peak_int8_gops": self.peak_int8_gops,
            "accelerator": None,
            "auto_notes": dict(self.auto_notes),
        }
        if self.accelerator is not None:
            a = self.accelerator
            d["accelerator"] = {
                "name": a.name,
                "kind": a.kind,
                "clock_ghz": a.clock_ghz,
                "peak_fp32_gflops": a.peak_fp32_gflops,
                "peak_int8_gops": a.peak_int8_gops,
            }
        return d


# ---------------------------------------------------------------------------------------------------------
# validation: raw TOML mapping -> HardwareProfile
# ---------------------------------------------------------------------------------------------------------
_TOP_LEVEL = {
    # name: (required, kind)
    "name": (True, "str"),
    "description": (True, "str"),
    "cpu_cores": (True, "int"),
    "cpu_clock_ghz": (True, "float"),
    "cpu_peak_fp32_gflops": (True, "float"),
    "cpu_peak_int8_gops": (True, "float"),
    "memory_bandwidth_gbps": (True, "float"),
    "memory_gb": (True, "float"),
    "power_modes_w": (True, "table"),
    "default_power_mode": (True, "str"),
    "onnx_execution_provider": (True, "str"),
    "threads": (True, "int"),
    "compute_efficiency": (True, "fraction"),
    "bandwidth_efficiency": (True, "fraction"),
    "compute_unit": (False, "str"),
    "accelerator": (False, "table"),
}
_ACCEL = {
    "name": (True, "str"),
    "kind": (True, "str"),
    "clock_ghz": (True, "float"),
    "peak_int8_gops": (True, "float"),
    "peak_fp32_gflops": (False, "float"),
}


def _check(path: str, fname: str, value: Any, kind: str) -> Any:
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise ProfileError(path, fname, f"must be a non-empty string, got {type(value).__name__} {value!r}")
        return value
    if kind == "table":
        if not isinstance(value, dict):
            raise ProfileError(path, fname, f"must be a TOML table, got {type(value).__name__}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(path, fname, f"must be an integer, got {type(value).__name__} {value!r}")
        if value <= 0:
            raise ProfileError(path, fname, f"must be positive, got {value}")
        return value
    if kind in ("float", "fraction"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProfileError(path, fname, f"must be a number, got {type(value).__name__} {value!r}")
        value = float(value)
        if not value > 0 or value != value or value == float("inf"):
            raise ProfileError(path, fname, f"must be positive and finite, got {value}")
        if kind == "fraction" and value > 1.0:
            raise ProfileError(path, fname, f"is a fraction of the peak and must be in (0, 1], got {value}")
        return value
    raise AssertionError(kind)


def validate(raw: Mapping[str, Any], *, key: str, path: str, auto_notes: Mapping[str, str] | None = None
             ) -> HardwareProfile:
    """Check every field of a parsed TOML mapping (with "auto" values already resolved) and build the profile."""
    unknown = sorted(set(raw) - set(_TOP_LEVEL))
    if unknown:
        raise ProfileError(path, unknown[0], f"unknown field (known: {', '.join(sorted(_TOP_LEVEL))})")
    vals: dict[str, Any] = {}
    for fname, (required, kind) in _TOP_LEVEL.items():
        if fname not in raw:
            if required:
                raise ProfileError(path, fname, "required field is missing")
            continue
        value = raw[fname]
        if value == "auto" and fname in AUTO_FIELDS:
            raise ProfileError(path, fname, "'auto' was not resolved")
        vals[fname] = _check(path, fname, value, kind)

    modes = []
    for mname, watts in vals["power_modes_w"].items():
        modes.append(PowerMode(str(mname), _check(path, f"power_modes_w.{mname}", watts, "float")))
    if not modes:
        raise ProfileError(path, "power_modes_w", "needs at least one mode")
    default_mode = vals["default_power_mode"]
    if default_mode not in {m.name for m in modes}:
        raise ProfileError(path, "default_power_mode",
                           f"{default_mode!r} is not one of the power modes {sorted(m.name for m in modes)}")

    compute_unit = vals.get("compute_unit", "cpu")
    if compute_unit not in COMPUTE_UNITS:
        raise ProfileError(path, "compute_unit", f"must be one of {COMPUTE_UNITS}, got {compute_unit!r}")

    accel = None
    if "accelerator" in vals:
        a = vals["accelerator"]
        unknown = sorted(set(a) - set(_ACCEL))
        if unknown:
            raise ProfileError(path, f"accelerator.{unknown[0]}", "unknown field")
        av: dict[str, Any] = {}
        for fname, (required, kind) in _ACCEL.items():
            if fname not in a:
                if required:
                    raise ProfileError(path, f"accelerator.{fname}", "required field is missing")
                continue
            av[fname] = _check(path, f"accelerator.{fname}", a[fname], kind)
        if av["kind"] not in ACCELERATOR_KINDS:
            raise ProfileError(path, "accelerator.kind", f"must be one of {ACCELERATOR_KINDS}, got {av['kind']!r}")
        accel = Accelerator(**av)
    if compute_unit == "accelerator" and accel is None:
        raise ProfileError(path, "compute_unit", "is 'accelerator' but the profile has no [accelerator] table")

    return HardwareProfile(
        key=key,
        name=vals["name"],
        description=vals["description"],
        cpu_cores=vals["cpu_cores"],
        cpu_clock_ghz=vals["cpu_clock_ghz"],
        cpu_peak_fp32_gflops=vals["cpu_peak_fp32_gflops"],
        cpu_peak_int8_gops=vals["cpu_peak_int8_gops"],
        memory_bandwidth_gbps=vals["memory_bandwidth_gbps"],
        memory_gb=vals["memory_gb"],
        power_modes=tuple(modes),
        default_power_mode=default_mode,
        onnx_execution_provider=vals["onnx_execution_provider"],
        threads=vals["threads"],
        compute_efficiency=vals["compute_efficiency"],
        bandwidth_efficiency=vals["bandwidth_efficiency"],
        compute_unit=compute_unit,
        accelerator=accel,
        source_path=str(path),
        auto_notes=dict(auto_notes or {}),
    )
