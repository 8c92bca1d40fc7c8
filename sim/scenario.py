"""Scenario files: TOML -> frozen dataclasses, validated with errors that name the field.

A scenario (see ``sim/scenarios/*.toml`` for complete, sourced examples)::

    name = "cubesat-sband"
    start = 2026-03-20T00:00:00Z          # TOML datetime (UTC) or ISO string
    duration_hours = 24.0
    seed = 1

    [satellite]                           # a TLE ...
    tle = ["1 ...", "2 ..."]
    # ... or circular mean elements
    altitude_km = 525.0
    inclination_deg = "sso"               # a number, or "sso" for sun-synchronous at that altitude
    raan_deg = 0.0

    [[stations]]
    name = "Svalbard"; lat_deg = 78.23; lon_deg = 15.39; alt_m = 500.0; min_elevation_deg = 5.0

    [link]                                # any sim.link.LinkConfig field
    frequency_hz = 2.2e9; symbol_rate_sps = 1e6; mode = "acm"; modcods = ["QPSK 1/4", ...]

    [channel]
    mode = "bit-true"                     # or "accounting"
    burst_loss_rate = 1e-3                # Gilbert–Elliott average loss (0 = no burst channel)
    burst_mean_frames = 5.0
    residual_ber = 1e-6                   # bit errors in the frames that arrive (bit-true mode)

    [storage]
    capacity_bytes = 4e9

    [downlink]
    step_s = 5.0; retransmit = true; max_transmissions = 3; apid = 256; vcid = 1

    [imaging]
    samples = ["landsat7_rgb"]            # bundled samples ...
    files = []                            # ... and/or image files (relative to the scenario file)
    scene_size = [1024, 1024]             # optional: mirror-extend each image to this size
    interval_s = 5400.0; first_offset_s = 600.0
    packages = ["hp-rgb-q0", "hp-rgb-q1"] # candidates, lowest rate first
    rate_control = "fit"                  # or "fixed" (always the last package of the list)
    fill_target = 0.8                     # plan to use this fraction of the expected capacity
    precision = "int8"; tile = 256
    transfer = "auto"                     # encoder curve for > 8-bit data: "auto", "linear" or an exponent
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from sim.errors import SimError
from sim.link import LinkConfig
from sim.passes import GroundStation


class ScenarioError(SimError):
    """A scenario file is missing a field or has a bad value; the message names the field."""


@dataclass(frozen=True)
class SatelliteConfig:
    name: str = "sat"
    tle: tuple[str, str] | None = None
    altitude_km: float | None = None
    inclination_deg: float | str | None = None
    raan_deg: float = 0.0
    arg_latitude_deg: float = 0.0

    def orbit(self, epoch: datetime):
        """A TLE pair or :class:`sim.orbit.OrbitElements` for the passes."""
        from sim.orbit import OrbitElements, sun_synchronous_inclination_deg

        if self.tle is not None:
            return tuple(self.tle)
        inc = self.inclination_deg
        if inc == "sso":
            inc = sun_synchronous_inclination_deg(float(self.altitude_km))
        return OrbitElements.circular(epoch, float(self.altitude_km), float(inc), raan_deg=self.raan_deg,
                                      arg_latitude_deg=self.arg_latitude_deg)


@dataclass(frozen=True)
class ChannelConfig:
    mode: str = "bit-true"
    burst_loss_rate: float = 0.0
    burst_mean_frames: float = 5.0
    residual_ber: float = 0.0


@dataclass(frozen=True)
class DownlinkConfig:
    step_s: float = 5.0
    pass_step_s: float = 30.0
    retransmit: bool = True
    max_transmissions: int = 3
    apid: int = 0x100
    vcid: int = 1


@dataclass(frozen=True)
class ImagingConfig:
    samples: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    scene_size: tuple[int, int] | None = None
    interval_s: float = 5400.0
    first_offset_s: float = 600.0
    max_scenes: int | None = None
    packages: tuple[str, ...] = ()
    rate_control: str = "fit"
    fill_target: float = 0.8
    horizon_hours: float = 24.0
    precision: str = "int8"
    tile: int = 256
    priority: int = 0
    transfer: str | float = "auto"


@dataclass(frozen=True)
class Scenario:
    name: str
    start: datetime
    duration_hours: float
    satellite: SatelliteConfig
    stations: tuple[GroundStation, ...]
    link: LinkConfig
    channel: ChannelConfig = field(default_factory=ChannelConfig)
    storage_capacity_bytes: int = 8 * 2**30
    downlink: DownlinkConfig = field(default_factory=DownlinkConfig)
    imaging: ImagingConfig = field(default_factory=ImagingConfig)
    seed: int = 1
    description: str = ""
    base_dir: Path = Path(".")

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.duration_hours)


def _build(cls, table: dict, where: str, convert: dict[str, Any] | None = None):
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ScenarioError(f"[{where}]: unknown field(s) {unknown}; known: {sorted(names)}")
    kwargs = {}
    for k, v in table.items():
        if convert and k in convert:
            try:
                v = convert[k](v)
            except (TypeError, ValueError) as exc:
                raise ScenarioError(f"[{where}] {k} = {v!r}: {exc}") from exc
        kwargs[k] = v
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"[{where}]: {exc}") from exc


def _datetime(v) -> datetime:
    if isinstance(v, datetime):
        t = v
    else:
        t = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError("start must carry a UTC offset (e.g. 2026-03-20T00:00:00Z)")
    return t.astimezone(timezone.utc)


def _transfer(v):
    from onboard.encoder import check_transfer

    return check_transfer(v)


def _tuple_of_pairs(v):
    return tuple(tuple(x) for x in v)


def scenario_from_dict(d: dict, base_dir: Path = Path(".")) -> Scenario:
    """Build and validate a :class:`Scenario` from a parsed TOML document."""
    d = dict(d)
    for key in ("name", "start", "duration_hours", "satellite", "stations", "link"):
        if key not in d:
            raise ScenarioError(f"scenario is missing the required field {key!r}")
    sat_t = dict(d.pop("satellite"))
    if "tle" in sat_t:
        tle = sat_t["tle"]
        if not (isinstance(tle, (list, tuple)) and len(tle) == 2):
            raise ScenarioError("[satellite] tle must be a list of the two TLE lines")
        sat_t["tle"] = (str(tle[0]), str(tle[1]))
    elif "altitude_km" not in sat_t or "inclination_deg" not in sat_t:
        raise ScenarioError("[satellite] needs either tle = [line1, line2] or altitude_km and inclination_deg")
    satellite = _build(SatelliteConfig, sat_t, "satellite")
    stations = tuple(_build(GroundStation, s, f"stations[{i}]") for i, s in enumerate(d.pop("stations")))
    if not stations:
        raise ScenarioError("[[stations]]: at least one ground station is needed")
    link = _build(LinkConfig, d.pop("link"), "link", {
        "modcods": tuple, "vcm_schedule": _tuple_of_pairs, "eirp_vs_off_nadir": _tuple_of_pairs})
    channel = _build(ChannelConfig, d.pop("channel", {}), "channel")
    if channel.mode not in ("bit-true", "accounting"):
        raise ScenarioError(f"[channel] mode = {channel.mode!r}; must be 'bit-true' or 'accounting'")
    storage = d.pop("storage", {})
    cap = storage.get("capacity_bytes", 8 * 2**30)
    if not (isinstance(cap, (int, float)) and cap > 0 and math.isfinite(cap)):
        raise ScenarioError(f"[storage] capacity_bytes = {cap!r}; must be a positive number")
    downlink = _build(DownlinkConfig, d.pop("downlink", {}), "downlink")
    imaging = _build(ImagingConfig, d.pop("imaging", {}), "imaging", {
        "samples": tuple, "files": tuple, "packages": tuple,
        "scene_size": lambda v: None if v is None else (int(v[0]), int(v[1])), "transfer": _transfer})
    if not imaging.samples and not imaging.files:
        raise ScenarioError("[imaging]: give at least one of samples = [...] or files = [...]")
    if not imaging.packages:
        raise ScenarioError("[imaging] packages: name at least one model package")
    if imaging.rate_control not in ("fit", "fixed"):
        raise ScenarioError(f"[imaging] rate_control = {imaging.rate_control!r}; must be 'fit' or 'fixed'")
    if not imaging.interval_s > 0:
        raise ScenarioError(f"[imaging] interval_s = {imaging.interval_s}; must be > 0")
    try:
        start = _datetime(d.pop("start"))
    except ValueError as exc:
        raise ScenarioError(f"start: {exc}") from exc
    duration = float(d.pop("duration_hours"))
    if not duration > 0:
        raise ScenarioError(f"duration_hours = {duration}; must be > 0")
    name = str(d.pop("name"))
    seed = int(d.pop("seed", 1))
    description = str(d.pop("description", ""))
    d.pop("sources", None)  # free-form citations of the parameters
    if d:
        raise ScenarioError(f"unknown top-level field(s) {sorted(d)}")
    return Scenario(name=name, start=start, duration_hours=duration, satellite=satellite, stations=stations,
                    link=link, channel=channel, storage_capacity_bytes=int(cap), downlink=downlink,
                    imaging=imaging, seed=seed, description=description, base_dir=base_dir)


def load_scenario(path_or_name: str | Path) -> Scenario:
    """A scenario from a TOML file, or the bundled scenario of that name (``sim/scenarios/<name>.toml``)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    p = Path(path_or_name)
    if not p.is_file():
        bundled = Path(str(resources.files("sim") / "scenarios" / f"{path_or_name}.toml"))
        if not bundled.is_file():
            raise ScenarioError(f"{path_or_name}: no such scenario file and no bundled scenario of that name "
                                f"(bundled: {', '.join(bundled_scenarios())})")
        p = bundled
    try:
        doc = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: invalid TOML ({exc})") from exc
    return scenario_from_dict(doc, base_dir=p.parent)


def bundled_scenarios() -> list[str]:
    root = Path(str(resources.files("sim") / "scenarios"))
    return sorted(q.stem for q in root.glob("*.toml"))


DEFAULT_SCENARIO = "cubesat-sband"
