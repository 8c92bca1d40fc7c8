"""Pass prediction against skyfield (the outside oracle), partial and short passes, input checks."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from sim.errors import NaiveDatetimeError, TimeWindowError
from sim.orbit import (
    OrbitElements,
    look_angles,
    satrec_from_elements,
    satrec_from_tle,
    sun_synchronous_inclination_deg,
)
from sim.passes import GroundStation, Pass, find_passes

skyfield_api = pytest.importorskip("skyfield.api")

ISS_TLE = (
    "1 25544U 98067A   24001.50000000  .00016717  00000-0  10270-3 0  9009",
    "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.49815361 12342",
)
# Sun-synchronous, 500 km, e = 0.0012 (exported with sgp4.exporter from the OrbitElements below).
SSO_TLE = (
    "1 59999U          24080.25000000  .00000000  00000-0  35000-4 0    07",
    "2 59999  97.4019 150.0000 0012000  90.0000  45.0000 15.21937171    07",
)
SSO_ELEMENTS = OrbitElements(
    datetime(2024, 3, 20, 6, tzinfo=timezone.utc), 6878.137, 0.0012, sun_synchronous_inclination_deg(500.0),
    150.0, 90.0, 45.0, 3.5e-5, 59999,
)
STATIONS = (
    GroundStation("Svalbard", 78.23, 15.39, 500.0, min_elevation_deg=5.0),
    GroundStation("Weilheim", 47.88, 11.08, 600.0, min_elevation_deg=10.0),
    GroundStation("Hartebeesthoek", -25.89, 27.69, 1415.0, min_elevation_deg=5.0),
)
CASES = [
    (ISS_TLE, datetime(2024, 1, 1, 6, tzinfo=timezone.utc)),
    (SSO_TLE, datetime(2024, 3, 20, 6, tzinfo=timezone.utc)),
]
# The ISS (51.6° inclination) never rises 5° over Svalbard: it is compared over a mid- and a southern station.
COMPARISONS = [
    pytest.param(ISS_TLE, CASES[0][1], STATIONS[1], id="iss-Weilheim"),
    pytest.param(ISS_TLE, CASES[0][1], STATIONS[2], id="iss-Hartebeesthoek"),
    pytest.param(SSO_TLE, CASES[1][1], STATIONS[0], id="sso500-Svalbard"),
    pytest.param(SSO_TLE, CASES[1][1], STATIONS[1], id="sso500-Weilheim"),
]
TOL_S = 1.0


def skyfield_passes(tle, station, start, end, mask_deg):
    """Complete (rise, culminate, set) triples from skyfield's find_events."""
    ts = skyfield_api.load.timescale(builtin=True)
    sat = skyfield_api.EarthSatellite(tle[0], tle[1], ts=ts)
    topos = skyfield_api.wgs84.latlon(station.lat_deg, station.lon_deg, elevation_m=station.alt_m)
    t, ev = sat.find_events(topos, ts.from_datetime(start), ts.from_datetime(end), altitude_degrees=mask_deg)
    dts = t.utc_datetime()
    out = []
    for i in range(len(ev) - 2):
        if (ev[i], ev[i + 1], ev[i + 2]) == (0, 1, 2):
            out.append((dts[i], dts[i + 1], dts[i + 2]))
    return out


def _dt(a: datetime, b: datetime) -> float:
    return abs((a - b).total_seconds())


@pytest.mark.parametrize("tle,start,station", COMPARISONS)
def test_pass_times_match_skyfield(tle, start, station):
    end = start + timedelta(days=2)
    ours = find_passes(tle, station, start, end)
    ref = skyfield_passes(tle, station, start, end, station.min_elevation_deg)
    assert len(ref) >= 3
    full = [p for p in ours if not (p.partial_start or p.partial_end)]
    assert len(full) == len(ref), (len(full), len(ref))
    for p, (rise, culm, set_) in zip(full, ref):
        assert _dt(p.aos, rise) < TOL_S
        assert _dt(p.tca, culm) < TOL_S
        assert _dt(p.los, set_) < TOL_S
        assert p.aos.tzinfo is not None and p.aos.utcoffset() == timedelta(0)
        assert p.duration_s == pytest.approx((p.los - p.aos).total_seconds(), abs=1e-3)
        assert p.max_elevation_deg >= station.min_elevation_deg
    # Our elevation agrees with skyfield's altitude at TCA to a few millidegrees.
    ts = skyfield_api.load.timescale(builtin=True)
    sat = skyfield_api.EarthSatellite(tle[0], tle[1], ts=ts)
    topos = skyfield_api.wgs84.latlon(station.lat_deg, station.lon_deg, elevation_m=station.alt_m)
    p = full[0]
    alt, _, dist = (sat - topos).at(ts.from_datetime(p.tca)).altaz()
    assert p.max_elevation_deg == pytest.approx(alt.degrees, abs=0.01)
    la = look_angles(satrec_from_tle(*tle), station, p.tca, np.array([0.0]))
    assert la.range_km[0] == pytest.approx(dist.km, abs=0.05)


def test_pass_in_progress_at_window_start_and_end():
    station = STATIONS[0]
    start = CASES[1][1]
    full = [p for p in find_passes(SSO_TLE, station, start, start + timedelta(days=1)) if not p.partial_start]
    ref = full[1]
    cut_start = ref.aos + timedelta(seconds=60)
    cut_end = ref.los - timedelta(seconds=45)
    got = find_passes(SSO_TLE, station, cut_start, cut_end)
    assert len(got) == 1
    p = got[0]
    assert p.partial_start and p.partial_end
    assert p.aos == cut_start and p.los == cut_end
    assert _dt(p.tca, ref.tca) < 0.01
    # Only partial at the start:
    got = find_passes(SSO_TLE, station, cut_start, cut_start + timedelta(hours=1))
    assert got[0].partial_start and not got[0].partial_end
    assert got[0].aos == cut_start and _dt(got[0].los, ref.los) < 0.01


def test_partial_pass_past_culmination_has_tca_at_window_start():
    station = STATIONS[0]
    start = CASES[1][1]
    ref = [p for p in find_passes(SSO_TLE, station, start, start + timedelta(days=1)) if not p.partial_start][0]
    cut = ref.tca + timedelta(seconds=30)
    p = find_passes(SSO_TLE, station, cut, cut + timedelta(minutes=30))[0]
    assert p.partial_start and p.tca == cut and p.aos == cut


def test_short_pass_barely_above_mask_is_found():
    """Peak 0.05° above the mask: a pass of a few seconds, far shorter than the coarse step."""
    start = CASES[1][1]
    end = start + timedelta(days=2)
    base = STATIONS[1]
    low = min(find_passes(SSO_TLE, base, start, end), key=lambda p: p.max_elevation_deg)
    mask = low.max_elevation_deg - 0.05
    station = GroundStation("Weilheim-tight", base.lat_deg, base.lon_deg, base.alt_m, min_elevation_deg=mask)
    window = (low.tca - timedelta(minutes=40), low.tca + timedelta(minutes=40))
    got = find_passes(SSO_TLE, station, *window, step_s=120.0)
    assert len(got) == 1
    p = got[0]
    assert 0.0 < p.duration_s < 120.0
    assert p.aos < p.tca < p.los
    assert _dt(p.tca, low.tca) < 0.5
    ref = skyfield_passes(SSO_TLE, station, *window, mask)
    assert len(ref) == 1
    assert _dt(p.aos, ref[0][0]) < TOL_S and _dt(p.los, ref[0][2]) < TOL_S


def test_elements_and_exported_tle_agree():
    station = STATIONS[0]
    start = CASES[1][1]
    end = start + timedelta(hours=12)
    a = find_passes(SSO_ELEMENTS, station, start, end)
    b = find_passes(SSO_TLE, station, start, end)
    c = find_passes(satrec_from_elements(SSO_ELEMENTS), station, start, end)
    assert len(a) == len(b) == len(c) > 0
    for x, y, z in zip(a, b, c):
        assert _dt(x.aos, y.aos) < 0.5 and _dt(x.los, y.los) < 0.5
        assert x == z


def test_naive_datetimes_and_empty_windows_are_rejected():
    station = STATIONS[0]
    naive = datetime(2024, 1, 1)
    aware = datetime(2024, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(NaiveDatetimeError):
        find_passes(ISS_TLE, station, naive, aware + timedelta(hours=1))
    with pytest.raises(ValueError, match="naive"):
        find_passes(ISS_TLE, station, aware, naive + timedelta(hours=1))
    with pytest.raises(TimeWindowError):
        find_passes(ISS_TLE, station, aware, aware)
    with pytest.raises(ValueError):
        GroundStation("bad", 95.0, 0.0)


def test_non_utc_aware_datetimes_are_converted():
    station = STATIONS[0]
    tz = timezone(timedelta(hours=2))
    start = CASES[0][1]
    a = find_passes(ISS_TLE, station, start, start + timedelta(hours=12))
    b = find_passes(ISS_TLE, station, start.astimezone(tz), (start + timedelta(hours=12)).astimezone(tz))
    assert [p.aos for p in a] == [p.aos for p in b]
    assert all(p.aos.tzinfo == timezone.utc for p in b)


def test_front_door_names():
    import sim

    assert sim.find_passes is find_passes
    assert sim.GroundStation is GroundStation
    assert sim.Pass is Pass


def test_import_sim_is_light_and_lazy():
    import subprocess
    import sys

    code = (
        "import sys, sim; assert 'sim.passes' not in sys.modules and 'scipy' not in sys.modules; "
        "sim.simulate_accounting; sim.LinkConfig; sim.GilbertElliott; sim.OnboardStorage; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
