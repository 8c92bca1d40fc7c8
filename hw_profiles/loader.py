"""Find, read and validate the hardware profiles shipped as package data (``hw_profiles/*.toml``).

A profile is named by its TOML file's stem (``load_profile("jetson_orin_nx_16gb")``); a path to any TOML file
works too. Files are found through :mod:`importlib.resources`, never through the current directory.

``host.toml`` describes the machine running the tool: its fields may say ``"auto"``, resolved here from
``os`` and ``/proc`` (cores, clock, memory), a short numpy copy (memory bandwidth, measured) and the CPU's
vector extensions (peak FLOPs, estimated). How each value was obtained is kept in ``profile.auto_notes``.
"""
from __future__ import annotations

import functools
import os
import platform
import time
from importlib import resources
from pathlib import Path
from typing import Any

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from hw_profiles.schema import AUTO_FIELDS, HardwareProfile, ProfileError, validate

__all__ = ["available_profiles", "load_profile", "load_all", "profile_path"]

_PACKAGE = "hw_profiles"


def _resource_dir():
    return resources.files(_PACKAGE)


def available_profiles() -> list[str]:
    """Names (TOML stems) of every shipped profile, sorted."""
    return sorted(p.name[:-5] for p in _resource_dir().iterdir() if p.name.endswith(".toml") and p.is_file())


def profile_path(name: str):
    """The packaged resource for profile ``name`` (a Traversable), or ProfileError listing the known names."""
    res = _resource_dir() / f"{name}.toml"
    if not res.is_file():
        raise ProfileError(name, None, f"no such hardware profile; available: {', '.join(available_profiles())}")
    return res


def _looks_like_path(name_or_path: str | os.PathLike) -> bool:
    if isinstance(name_or_path, os.PathLike):
        return True
    s = str(name_or_path)
    return s.endswith(".toml") or os.sep in s or (os.altsep is not None and os.altsep in s)


def load_profile(name_or_path: str | os.PathLike) -> HardwareProfile:
    """Load and validate one profile by name (TOML stem, packaged) or by path to a TOML file."""
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise ProfileError(str(path), None, "file not found")
        key = path.stem
        text_reader = path.read_text
        where = str(path)
    else:
        key = str(name_or_path)
        res = profile_path(key)
        text_reader = res.read_text
        where = f"{_PACKAGE}/{key}.toml"
    try:
        raw = tomllib.loads(text_reader(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(where, None, f"not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(where, None, f"cannot read: {exc}") from exc
    raw, notes = _resolve_auto(raw, where)
    return validate(raw, key=key, path=where, auto_notes=notes)


def load_all() -> dict[str, HardwareProfile]:
    """Every shipped profile, keyed by name, in name order."""
    return {name: load_profile(name) for name in available_profiles()}


# ---------------------------------------------------------------------------------------------------------
# "auto" values: this machine
# ---------------------------------------------------------------------------------------------------------
def _resolve_auto(raw: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, str]]:
    raw = dict(raw)
    notes: dict[str, str] = {}
    for fname, value in list(raw.items()):
        if value == "auto" and fname not in AUTO_FIELDS:
            raise ProfileError(where, fname, f"'auto' is only allowed for {', '.join(AUTO_FIELDS)}")
    if not any(raw.get(f) == "auto" for f in AUTO_FIELDS):
        return raw, notes
    facts = host_facts()
    order = ["cpu_cores", "threads", "cpu_clock_ghz", "memory_gb", "memory_bandwidth_gbps",
             "cpu_peak_fp32_gflops", "cpu_peak_int8_gops"]
    for fname in order:
        if raw.get(fname) != "auto":
            continue
        if fname == "cpu_cores":
            raw[fname], notes[fname] = facts["cpu_cores"]
        elif fname == "threads":
            raw[fname], notes[fname] = facts["cpu_cores"]
            notes[fname] = "threads = usable CPUs (os.sched_getaffinity / os.cpu_count)"
        elif fname == "cpu_clock_ghz":
            raw[fname], notes[fname] = facts["cpu_clock_ghz"]
        elif fname == "memory_gb":
            raw[fname], notes[fname] = facts["memory_gb"]
        elif fname == "memory_bandwidth_gbps":
            raw[fname], notes[fname] = facts["memory_bandwidth_gbps"]
        elif fname in ("cpu_peak_fp32_gflops", "cpu_peak_int8_gops"):
            cores = raw["cpu_cores"] if isinstance(raw.get("cpu_cores"), (int, float)) else facts["cpu_cores"][0]
            clock = (raw["cpu_clock_ghz"] if isinstance(raw.get("cpu_clock_ghz"), (int, float))
                     else facts["cpu_clock_ghz"][0])
            fpc, int8_ratio, isa = facts["flops_per_cycle"]
            if fname == "cpu_peak_fp32_gflops":
                raw[fname] = round(cores * clock * fpc, 1)
                notes[fname] = (f"estimate: {cores} cores x {clock:.2f} GHz x {fpc} fp32 FLOP/cycle/core "
                                f"({isa})")
            else:
                raw[fname] = round(cores * clock * fpc * int8_ratio, 1)
                notes[fname] = (f"estimate: fp32 peak x {int8_ratio} "
                                f"({'VNNI dot-product' if int8_ratio == 4 else 'no int8 dot-product'}; {isa})")
    return raw, notes


@functools.lru_cache(maxsize=1)
def host_facts() -> dict[str, tuple[Any, ...]]:
    """Facts about this machine, each as (value, how it was obtained). Cached: measured once per process."""
    return {
        "cpu_cores": _cpu_cores(),
        "cpu_clock_ghz": _cpu_clock_ghz(),
        "memory_gb": _memory_gb(),
        "memory_bandwidth_gbps": _memory_bandwidth_gbps(),
        "flops_per_cycle": _flops_per_cycle(),
    }


def _cpu_cores() -> tuple[int, str]:
    try:
        n = len(os.sched_getaffinity(0))
        return n, f"measured: {n} usable CPUs (os.sched_getaffinity)"
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
        return n, f"measured: {n} CPUs (os.cpu_count)"


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""


def _cpu_clock_ghz() -> tuple[float, str]:
    try:
        khz = int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text().strip())
        return round(khz / 1e6, 3), "measured: cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        pass
    mhz = []
    for line in _cpuinfo().splitlines():
        if line.lower().startswith("cpu mhz"):
            try:
                mhz.append(float(line.split(":", 1)[1]))
            except ValueError:
                pass
    if mhz:
        return round(max(mhz) / 1000.0, 3), "measured: /proc/cpuinfo 'cpu MHz' (current clock, max over CPUs)"
    return 2.0, "assumed 2.0 GHz (no cpufreq or /proc/cpuinfo clock on this machine)"


def _memory_gb() -> tuple[float, str]:
    try:
        b = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return round(b / 1e9, 2), "measured: os.sysconf physical pages"
    except (ValueError, OSError, AttributeError):
        return 8.0, "assumed 8 GB (os.sysconf unavailable)"


def _memory_bandwidth_gbps() -> tuple[float, str]:
    """Best-of-5 numpy copy of 64 MiB (read + write counted), single thread: a STREAM-copy-like figure."""
    import numpy as np

    n = 16 * 1024 * 1024  # float32 -> 64 MiB, far beyond any last-level cache
    src = np.ones(n, dtype=np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    gbps = 2 * src.nbytes / best / 1e9
    return round(gbps, 2), "measured: single-thread numpy copy of 64 MiB, best of 5, read+write bytes"


def _flops_per_cycle() -> tuple[int, int, str]:
    """(fp32 FLOP/cycle/core, int8:fp32 op ratio, ISA note) from the CPU's vector extensions."""
    flags: set[str] = set()
    for line in _cpuinfo().splitlines():
        low = line.lower()
        if low.startswith("flags") or low.startswith("features"):
            flags = set(line.split(":", 1)[1].split())
            break
    vnni = bool(flags & {"avx512_vnni", "avx_vnni", "asimddp"})
    if "avx512f" in flags:
        fpc, isa = 64, "AVX-512: 2 x 16-lane FMA"
    elif "avx2" in flags and "fma" in flags:
        fpc, isa = 32, "AVX2: 2 x 8-lane FMA"
    elif "avx" in flags:
        fpc, isa = 16, "AVX: 8-lane add + 8-lane mul"
    elif "asimd" in flags or platform.machine().lower() in ("aarch64", "arm64"):
        fpc, isa = 16, "NEON: 2 x 4-lane FMA assumed"
    else:
        fpc, isa = 8, "SSE: 4-lane add + 4-lane mul"
    return fpc, (4 if vnni else 2), isa
