"""Orbit propagation and station geometry: SGP4 → TEME → ECEF → topocentric azimuth/elevation/range.

Propagation uses the ``sgp4`` package (Vallado's C++ SGP4 through ``Satrec``), vectorised with
``Satrec.sgp4_array``. The TEME → Earth-fixed rotation is the GMST-1982 angle of AIAA 2006-6753 Appendix C.

Simplifications (all documented, all far below the 1 s pass-time accuracy we test against skyfield):

- UT1 is taken equal to UTC (|UT1 − UTC| < 0.9 s shifts the Earth by < 0.42 km at the equator, i.e. AOS/LOS
  by well under 0.1 s for a LEO satellite).
- Polar motion is ignored (< 15 m at the surface), so the Earth-fixed frame is the pseudo-Earth-fixed (PEF)
  frame, used as ECEF.
- Stations are WGS-84 geodetic points; elevation is measured from the plane normal to the geodetic vertical
  (as skyfield's ``altaz()`` does). No refraction.

Times are an anchor datetime (timezone-aware UTC) plus offsets in seconds, so that sub-millisecond resolution
survives over days.

>>> from datetime import datetime, timezone
>>> import numpy as np
>>> l1 = "1 25544U 98067A   24001.50000000  .00016717  00000-0  10270-3 0  9009"
>>> l2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.49815361 12342"
>>> sat = satrec_from_tle(l1, l2)
>>> r, v = propagate_teme(sat, datetime(2024, 1, 1, 12, tzinfo=timezone.utc), np.array([0.0, 60.0]))
>>> r.shape, bool(6600 < np.linalg.norm(r[0]) < 6900)
((2, 3), True)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

import numpy as np
from sgp4.api import SGP4_ERRORS, WGS72, Satrec, jday

from sim.errors import NaiveDatetimeError, PropagationError

SECONDS_PER_DAY = 86400.0
#: WGS-84 ellipsoid (NIMA TR8350.2).
WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
#: Earth rotation rate used with GMST-1982 (rad/s), IERS nominal value.
EARTH_ROTATION_RAD_S = 7.292115146706979e-5
#: WGS-72 gravitational parameter, the constant SGP4 (WGS72 mode) uses (km^3/s^2).
WGS72_MU_KM3_S2 = 398600.8
WGS72_RADIUS_KM = 6378.135
WGS72_J2 = 0.001082616
_JD_J2000 = 2451545.0
_JD_SGP4_EPOCH0 = 2433281.5  # 1949 December 31 00:00 UT, the zero of sgp4init's epoch argument


class StationLike(Protocol):
    """Anything with WGS-84 geodetic coordinates (e.g. :class:`sim.passes.GroundStation`)."""

    lat_deg: float
    lon_deg: float
    alt_m: float


def require_utc(name: str, value: datetime) -> datetime:
    """Return ``value`` converted to UTC; raise :class:`NaiveDatetimeError` when it has no tzinfo.

    >>> from datetime import timedelta
    >>> require_utc("t", datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))).isoformat()
    '2024-01-01T00:00:00+00:00'
    """
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError(name, value)
    return value.astimezone(timezone.utc)


def julian_date(when: datetime) -> tuple[float, float]:
    """Split Julian date (whole part ending in .5, day fraction) of an aware datetime, UTC scale.

    >>> julian_date(datetime(2000, 1, 1, 12, tzinfo=timezone.utc))
    (2451544.5, 0.5)
    """
    t = require_utc("when", when)
    return jday(t.year, t.month, t.day, t.hour, t.minute, t.second + t.microsecond * 1e-6)


def satrec_from_tle(line1: str, line2: str) -> Satrec:
    """Parse a two-line element set into an SGP4 ``Satrec`` (WGS-72 constants, as TLEs are fitted with)."""
    return Satrec.twoline2rv(line1, line2, WGS72)


@dataclass(frozen=True)
class OrbitElements:
    """Mean orbital elements for scenarios that give elements instead of a TLE.

    ``mean_motion_rev_per_day`` is derived from ``semi_major_axis_km`` (two-body, WGS-72 μ) when not given.
    Angles are in degrees; ``epoch`` is a timezone-aware datetime. The values are SGP4 (Kozai) mean elements.

    >>> e = OrbitElements.circular(datetime(2024, 1, 1, tzinfo=timezone.utc), altitude_km=500.0,
    ...                            inclination_deg=97.4)
    >>> round(e.semi_major_axis_km, 3)
    6878.135
    """

    epoch: datetime
    semi_major_axis_km: float
    eccentricity: float = 0.0
    inclination_deg: float = 0.0
    raan_deg: float = 0.0
    arg_perigee_deg: float = 0.0
    mean_anomaly_deg: float = 0.0
    bstar_per_earth_radius: float = 0.0
    satnum: int = 99999

    @classmethod
    def circular(
        cls,
        epoch: datetime,
        altitude_km: float,
        inclination_deg: float,
        raan_deg: float = 0.0,
        arg_latitude_deg: float = 0.0,
        **kwargs: float,
    ) -> "OrbitElements":
        """Circular orbit at ``altitude_km`` above the WGS-72 equatorial radius."""
        return cls(
            epoch=epoch,
            semi_major_axis_km=WGS72_RADIUS_KM + altitude_km,
            inclination_deg=inclination_deg,
            raan_deg=raan_deg,
            mean_anomaly_deg=arg_latitude_deg,
            **kwargs,  # type: ignore[arg-type]
        )

    @property
    def mean_motion_rad_per_min(self) -> float:
        """Two-body mean motion from the semi-major axis (rad/min)."""
        return math.sqrt(WGS72_MU_KM3_S2 / self.semi_major_axis_km**3) * 60.0


def sun_synchronous_inclination_deg(altitude_km: float, eccentricity: float = 0.0) -> float:
    """Inclination (deg) whose J2 nodal precession equals the Sun's mean motion (360°/365.2422 d).

    >>> round(sun_synchronous_inclination_deg(500.0), 2)
    97.4
    """
    a = WGS72_RADIUS_KM + altitude_km
    n = math.sqrt(WGS72_MU_KM3_S2 / a**3)
    node_rate = 2.0 * math.pi / (365.2422 * SECONDS_PER_DAY)
    p = a * (1.0 - eccentricity**2)
    cos_i = -node_rate / (1.5 * n * WGS72_J2 * (WGS72_RADIUS_KM / p) ** 2)
    return math.degrees(math.acos(cos_i))


def satrec_from_elements(elements: OrbitElements) -> Satrec:
    """Build a TLE-less ``Satrec`` with ``Satrec.sgp4init`` (WGS-72, improved mode).

    >>> e = OrbitElements.circular(datetime(2024, 1, 1, tzinfo=timezone.utc), 500.0, 97.4)
    >>> sat = satrec_from_elements(e)
    >>> round(sat.no_kozai * 1440 / (2 * math.pi), 3)  # rev/day
    15.219
    """
    jd, fr = julian_date(elements.epoch)
    sat = Satrec()
    sat.sgp4init(
        WGS72,
        "i",
        int(elements.satnum),
        (jd - _JD_SGP4_EPOCH0) + fr,
        float(elements.bstar_per_earth_radius),
        0.0,
        0.0,
        float(elements.eccentricity),
        math.radians(elements.arg_perigee_deg),
        math.radians(elements.inclination_deg),
        math.radians(elements.mean_anomaly_deg),
        elements.mean_motion_rad_per_min,
        math.radians(elements.raan_deg),
    )
    if sat.error:
        raise PropagationError(int(sat.error), SGP4_ERRORS.get(int(sat.error), "?"), 1, 0.0)
    return sat


def _anchor_arrays(start: datetime, offsets_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    jd, fr = julian_date(start)
    offsets = np.asarray(offsets_s, dtype=np.float64)
    return np.full(offsets.shape, jd), fr + offsets / SECONDS_PER_DAY


def propagate_teme(sat: Satrec, start: datetime, offsets_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TEME position (km) and velocity (km/s), shape (N, 3), at ``start + offsets_s``.

    Raises :class:`PropagationError` (with the SGP4 error code) when any time fails.
    """
    offsets = np.atleast_1d(np.asarray(offsets_s, dtype=np.float64))
    jd, fr = _anchor_arrays(start, offsets)
    err, r, v = sat.sgp4_array(jd, fr)
    bad = np.flatnonzero(err)
    if bad.size:
        code = int(err[bad[0]])
        raise PropagationError(code, SGP4_ERRORS.get(code, "?"), int(bad.size), float(offsets[bad[0]]))
    return r, v


def gmst82_rad(jd_ut1: np.ndarray, fraction_ut1: np.ndarray) -> np.ndarray:
    """Greenwich mean sidereal angle, IAU-1982 model (AIAA 2006-6753 App. C), in radians in [0, 2π).

    ``jd_ut1`` is the whole Julian date (ending in .5) and ``fraction_ut1`` the day fraction.

    >>> float(np.round(gmst82_rad(np.array(2451544.5), np.array(0.5)), 6))  # J2000.0: 280.46062°
    4.894961
    """
    jd = np.asarray(jd_ut1, dtype=np.float64)
    fr = np.asarray(fraction_ut1, dtype=np.float64)
    t = (jd - _JD_J2000 + fr) / 36525.0
    g_s = 67310.54841 + (8640184.812866 + (0.093104 + (-6.2e-6) * t) * t) * t
    turns = (jd % 1.0 + fr + (g_s / SECONDS_PER_DAY) % 1.0) % 1.0
    return turns * 2.0 * math.pi


def teme_to_ecef(
    r_teme_km: np.ndarray, v_teme_km_s: np.ndarray, start: datetime, offsets_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate TEME state vectors into the Earth-fixed frame (PEF; polar motion ignored, UT1 = UTC)."""
    jd, fr = _anchor_arrays(start, np.atleast_1d(offsets_s))
    theta = gmst82_rad(jd, fr)
    c, s = np.cos(theta), np.sin(theta)
    x, y, z = r_teme_km[:, 0], r_teme_km[:, 1], r_teme_km[:, 2]
    r = np.stack([c * x + s * y, -s * x + c * y, z], axis=1)
    vx, vy, vz = v_teme_km_s[:, 0], v_teme_km_s[:, 1], v_teme_km_s[:, 2]
    v = np.stack([c * vx + s * vy, -s * vx + c * vy, vz], axis=1)
    # v_ecef = R v_teme − ω × r_ecef, with ω = (0, 0, ω_E)
    v[:, 0] += EARTH_ROTATION_RAD_S * r[:, 1]
    v[:, 1] -= EARTH_ROTATION_RAD_S * r[:, 0]
    return r, v


def geodetic_to_ecef_km(lat_deg: float, lon_deg: float, alt_m: float) -> np.ndarray:
    """WGS-84 geodetic coordinates → Earth-fixed Cartesian position (km).

    >>> np.round(geodetic_to_ecef_km(0.0, 0.0, 0.0), 3).tolist()
    [6378.137, 0.0, 0.0]
    """
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    n = WGS84_A_KM / math.sqrt(1.0 - WGS84_E2 * math.sin(lat) ** 2)
    h = alt_m / 1000.0
    return np.array(
        [
            (n + h) * math.cos(lat) * math.cos(lon),
            (n + h) * math.cos(lat) * math.sin(lon),
            (n * (1.0 - WGS84_E2) + h) * math.sin(lat),
        ]
    )


def enu_rotation(lat_deg: float, lon_deg: float) -> np.ndarray:
    """3×3 matrix whose rows are the local East, North, Up unit vectors (geodetic vertical) in ECEF."""
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    sl, cl, so, co = math.sin(lat), math.cos(lat), math.sin(lon), math.cos(lon)
    return np.array([[-so, co, 0.0], [-sl * co, -sl * so, cl], [cl * co, cl * so, sl]])


@dataclass(frozen=True)
class LookAngles:
    """Topocentric geometry of a satellite seen from a station, arrays of shape (N,).

    ``off_nadir_deg`` is the angle at the satellite between its nadir (towards the Earth's centre) and the
    station: what an antenna pattern or an EIRP-vs-angle table needs.
    """

    offsets_s: np.ndarray
    azimuth_deg: np.ndarray
    elevation_deg: np.ndarray
    range_km: np.ndarray
    range_rate_km_s: np.ndarray
    off_nadir_deg: np.ndarray


def look_angles(sat: Satrec, station: StationLike, start: datetime, offsets_s: np.ndarray) -> LookAngles:
    """Azimuth, elevation, slant range (and its rate), off-nadir angle of ``sat`` from ``station``.

    >>> from sim.passes import GroundStation
    >>> l1 = "1 25544U 98067A   24001.50000000  .00016717  00000-0  10270-3 0  9009"
    >>> l2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.49815361 12342"
    >>> la = look_angles(satrec_from_tle(l1, l2), GroundStation("x", 48.0, 11.0, 500.0),
    ...                  datetime(2024, 1, 1, tzinfo=timezone.utc), np.arange(0.0, 600.0, 60.0))
    >>> la.elevation_deg.shape
    (10,)
    """
    offsets = np.atleast_1d(np.asarray(offsets_s, dtype=np.float64))
    r_teme, v_teme = propagate_teme(sat, start, offsets)
    r, v = teme_to_ecef(r_teme, v_teme, start, offsets)
    site = geodetic_to_ecef_km(station.lat_deg, station.lon_deg, station.alt_m)
    rho = r - site
    enu = rho @ enu_rotation(station.lat_deg, station.lon_deg).T
    rng = np.linalg.norm(rho, axis=1)
    el = np.degrees(np.arcsin(np.clip(enu[:, 2] / rng, -1.0, 1.0)))
    az = np.degrees(np.arctan2(enu[:, 0], enu[:, 1])) % 360.0
    rate = np.einsum("ij,ij->i", rho, v) / rng
    r_norm = np.linalg.norm(r, axis=1)
    cos_nadir = np.einsum("ij,ij->i", -r, -rho) / (r_norm * rng)
    off_nadir = np.degrees(np.arccos(np.clip(cos_nadir, -1.0, 1.0)))
    return LookAngles(offsets, az, el, rng, rate, off_nadir)


def elevation_deg(sat: Satrec, station: StationLike, start: datetime, offsets_s: np.ndarray) -> np.ndarray:
    """Elevation only (deg): the cheap function pass search evaluates many times."""
    offsets = np.atleast_1d(np.asarray(offsets_s, dtype=np.float64))
    r_teme, v_teme = propagate_teme(sat, start, offsets)
    r, _ = teme_to_ecef(r_teme, v_teme, start, offsets)
    rho = r - geodetic_to_ecef_km(station.lat_deg, station.lon_deg, station.alt_m)
    up = enu_rotation(station.lat_deg, station.lon_deg)[2]
    return np.degrees(np.arcsin(np.clip(rho @ up / np.linalg.norm(rho, axis=1), -1.0, 1.0)))
