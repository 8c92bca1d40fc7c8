"""Ground-station passes: AOS, TCA, LOS of a satellite over a station above an elevation mask.

Method: sample the elevation on a coarse grid (``step_s``), refine every local maximum of the sampled elevation
with a bounded scalar maximisation (this is the TCA, and it catches short passes whose peak lies between two
samples below the mask), then find every crossing of ``elevation − mask`` between consecutive points of the
grid-plus-maxima with Brent's method. Times are resolved to ``tolerance_s`` (1 ms by default), far below the
1 s agreement we test against skyfield.

A pass already above the mask at ``start`` has ``aos == start`` and ``partial_start``; one still above it at
``end`` has ``los == end`` and ``partial_end``. For a partial pass whose highest point inside the window is at a
window edge, ``tca`` is that edge.

>>> from datetime import datetime, timezone
>>> l1 = "1 25544U 98067A   24001.50000000  .00016717  00000-0  10270-3 0  9009"
>>> l2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.49815361 12342"
>>> t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
>>> passes = find_passes((l1, l2), GroundStation("Munich", 48.15, 11.57, 520.0), t0,
...                      t0.replace(day=2))
>>> all(p.aos <= p.tca <= p.los for p in passes), passes[0].aos.tzinfo
(True, datetime.timezone.utc)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Union

import numpy as np
from scipy.optimize import brentq, minimize_scalar
from sgp4.api import Satrec

from sim.errors import SimError, TimeWindowError
from sim.orbit import OrbitElements, elevation_deg, require_utc, satrec_from_elements, satrec_from_tle

#: What :func:`find_passes` accepts as the orbit: a TLE (two lines), an SGP4 record or mean elements.
OrbitSource = Union[tuple[str, str], Satrec, OrbitElements]


@dataclass(frozen=True)
class GroundStation:
    """A ground station: WGS-84 geodetic position and elevation mask.

    >>> GroundStation("Svalbard", 78.23, 15.39, 500.0).min_elevation_deg
    5.0
    """

    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0
    min_elevation_deg: float = 5.0

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat_deg <= 90.0:
            raise SimError(f"station {self.name!r}: lat_deg={self.lat_deg} outside [-90, 90]")
        if not -360.0 <= self.lon_deg <= 360.0:
            raise SimError(f"station {self.name!r}: lon_deg={self.lon_deg} outside [-360, 360]")
        if not -90.0 <= self.min_elevation_deg < 90.0:
            raise SimError(f"station {self.name!r}: min_elevation_deg={self.min_elevation_deg} outside [-90, 90)")


@dataclass(frozen=True)
class Pass:
    """One pass of the satellite above ``station.min_elevation_deg``; times are timezone-aware UTC."""

    station: GroundStation
    aos: datetime
    tca: datetime
    los: datetime
    max_elevation_deg: float
    duration_s: float
    partial_start: bool = False
    partial_end: bool = False


def as_satrec(orbit: OrbitSource) -> Satrec:
    """Turn a TLE pair, an ``OrbitElements`` or a ``Satrec`` into a ``Satrec``."""
    if isinstance(orbit, Satrec):
        return orbit
    if isinstance(orbit, OrbitElements):
        return satrec_from_elements(orbit)
    line1, line2 = orbit
    return satrec_from_tle(line1, line2)


def find_passes(
    tle: OrbitSource,
    station: GroundStation,
    start: datetime,
    end: datetime,
    step_s: float = 30.0,
    tolerance_s: float = 1e-3,
) -> list[Pass]:
    """All passes of the satellite over ``station`` between ``start`` and ``end`` (aware datetimes).

    ``step_s`` is the coarse sampling step; it must be short compared with a pass (30 s suits LEO).
    Raises :class:`sim.errors.NaiveDatetimeError` for naive datetimes and :class:`TimeWindowError` when
    ``end <= start``.
    """
    t0 = require_utc("start", start)
    t1 = require_utc("end", end)
    span_s = (t1 - t0).total_seconds()
    if span_s <= 0.0:
        raise TimeWindowError(f"end - start = {span_s} s; need end > start")
    if not step_s > 0.0:
        raise TimeWindowError(f"step_s={step_s}; need step_s > 0")
    sat = as_satrec(tle)
    mask = float(station.min_elevation_deg)

    def f_vec(x: np.ndarray) -> np.ndarray:
        return elevation_deg(sat, station, t0, x) - mask

    def f(x: float) -> float:
        return float(f_vec(np.array([x]))[0])

    grid = np.arange(0.0, span_s, step_s)
    grid = np.append(grid, span_s) if grid[-1] < span_s else grid
    fg = f_vec(grid)

    # 1. Local maxima of the sampled elevation (edges included), refined by bounded maximisation.
    peaks_t: list[float] = []
    n = grid.size
    for i in range(n):
        left = fg[i - 1] if i > 0 else -math.inf
        right = fg[i + 1] if i < n - 1 else -math.inf
        if n == 1 or not (fg[i] >= left and fg[i] > right or (fg[i] > left and fg[i] >= right)):
            continue
        lo = grid[max(i - 1, 0)]
        hi = grid[min(i + 1, n - 1)]
        if hi <= lo:
            continue
        res = minimize_scalar(
            lambda u, lo=lo: -f(lo + u), bounds=(0.0, hi - lo), method="bounded",
            options={"xatol": tolerance_s},
        )
        t_peak = lo + float(res.x)
        peaks_t.append(t_peak)
    peaks = np.array(sorted(set(peaks_t)), dtype=np.float64)
    fp = f_vec(peaks) if peaks.size else np.empty(0)

    # 2. Merge grid and peaks, then find every crossing of the mask between consecutive points.
    pts = np.concatenate([grid, peaks])
    vals = np.concatenate([fg, fp])
    order = np.argsort(pts, kind="stable")
    pts, vals = pts[order], vals[order]
    above = vals >= 0.0
    crossings: list[tuple[float, bool]] = []  # (time, rising)
    for k in np.flatnonzero(above[1:] != above[:-1]):
        a, b = pts[k], pts[k + 1]
        if b <= a:
            continue
        root = a + brentq(lambda u, a=a: f(a + u), 0.0, b - a, xtol=tolerance_s)
        crossings.append((root, not above[k]))

    # 3. Intervals above the mask.
    intervals: list[tuple[float, float, bool, bool]] = []
    current: float | None = 0.0 if above[0] else None
    current_partial = bool(above[0])
    for t, rising in crossings:
        if rising:
            current, current_partial = t, False
        elif current is not None:
            intervals.append((current, t, current_partial, False))
            current = None
    if current is not None:
        intervals.append((current, span_s, current_partial, True))

    passes: list[Pass] = []
    for aos_s, los_s, p_start, p_end in intervals:
        cand = [t for t in peaks if aos_s <= t <= los_s]
        if p_start:
            cand.append(aos_s)
        if p_end:
            cand.append(los_s)
        if not cand:
            cand = [0.5 * (aos_s + los_s)]
        cand_arr = np.array(cand)
        el = f_vec(cand_arr) + mask
        j = int(np.argmax(el))
        tca_s = float(cand_arr[j])
        passes.append(
            Pass(
                station=station,
                aos=t0 + timedelta(seconds=float(aos_s)),
                tca=t0 + timedelta(seconds=tca_s),
                los=t0 + timedelta(seconds=float(los_s)),
                max_elevation_deg=float(el[j]),
                duration_s=float(los_s - aos_s),
                partial_start=p_start,
                partial_end=p_end,
            )
        )
    return passes
