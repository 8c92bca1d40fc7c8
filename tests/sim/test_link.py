"""Link budget against hand calculations, the DVB-S2 table, MODCOD selection and the FER waterfall."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sim.link import (
    DVBS2_MODCODS,
    NORMAL_FECFRAME_BITS,
    PLHEADER_SYMBOLS,
    LinkConfig,
    atmospheric_loss_db,
    frame_error_rate,
    fspl_db,
    link_budget,
    modcod,
    transfer_frame_loss_probability,
)

HAND = dict(
    frequency_hz=2.2e9,
    eirp_dbw=10.0,
    gt_dbk=0.0,
    symbol_rate_sps=1e6,
    mode="ccm",
    modcods=("QPSK 1/2",),
    zenith_attenuation_db=0.3,
    pointing_loss_db=0.5,
    polarization_loss_db=0.2,
    implementation_loss_db=1.0,
)


def test_fspl_hand_calculation():
    # 4π·d·f/c = 4π · 1e6 m · 2.2e9 Hz / 299792458 m/s = 9.2216e7 → 20·log10 = 159.296 dB
    assert float(fspl_db(1000.0, 2.2e9)) == pytest.approx(159.296, abs=0.005)
    # Doubling the range adds 6.02 dB; X band 8.2 GHz at 2000 km:
    assert float(fspl_db(2000.0, 2.2e9) - fspl_db(1000.0, 2.2e9)) == pytest.approx(6.0206, abs=1e-4)
    assert float(fspl_db(2000.0, 8.2e9)) == pytest.approx(176.74, abs=0.01)


def test_cn0_and_esn0_hand_calculation():
    """2.2 GHz, 1000 km, zenith (el 90°):
    losses = FSPL 159.296 + atmosphere 0.3/sin 90° = 0.300 + pointing 0.5 + polarisation 0.2 + implementation 1.0
           = 161.296 dB
    C/N0  = EIRP 10 − 161.296 + G/T 0 + 228.599 = 77.303 dB-Hz
    Es/N0 = 77.303 − 10·log10(1e6) = 17.303 dB;   QPSK 1/2 threshold 1.00 dB → margin 16.303 dB
    rate  = 1e6 · 0.988858 = 988 858 bit/s
    """
    b = link_budget(LinkConfig(**HAND), 1000.0, 90.0)
    assert b.total_loss_db[0] == pytest.approx(161.296, abs=0.005)
    assert b.cn0_dbhz[0] == pytest.approx(77.303, abs=0.005)
    assert b.cn0_dbhz[0] == pytest.approx(10 - 161.296 + 0 + 228.6, abs=0.01)
    assert b.esn0_db[0] == pytest.approx(17.303, abs=0.005)
    assert b.margin_db[0] == pytest.approx(16.303, abs=0.005)
    assert b.rate_bps[0] == pytest.approx(988_858.0)
    assert b.ebn0_db[0] == pytest.approx(17.303 - 10 * math.log10(0.988858), abs=0.005)
    assert b.fer[0] < 1e-12


def test_atmospheric_model_and_elevation_floor():
    # 0.5 dB zenith at 10°: 0.5 / sin(10°) = 2.879 dB; below the 5° floor the loss stays at 0.5/sin 5° = 5.737 dB
    assert float(atmospheric_loss_db(10.0, 0.5)) == pytest.approx(2.879, abs=1e-3)
    assert float(atmospheric_loss_db(2.0, 0.5)) == pytest.approx(5.737, abs=1e-3)
    assert float(atmospheric_loss_db(-1.0, 0.5)) == pytest.approx(5.737, abs=1e-3)
    assert LinkConfig(frequency_hz=2.2e9).zenith_db == 0.3
    assert LinkConfig(frequency_hz=8.2e9).zenith_db == 0.5


def test_dvbs2_table_is_consistent():
    assert len(DVBS2_MODCODS) == 28
    for m in DVBS2_MODCODS:
        slots = NORMAL_FECFRAME_BITS / m.bits_per_symbol + PLHEADER_SYMBOLS
        assert m.spectral_efficiency == pytest.approx(m.data_field_bits / slots, abs=2e-6), m.name
    for mod in ("QPSK", "8PSK", "16APSK", "32APSK"):
        rows = [m for m in DVBS2_MODCODS if m.name.startswith(mod + " ")]
        assert all(a.ideal_esn0_db < b.ideal_esn0_db for a, b in zip(rows, rows[1:]))
        assert all(a.spectral_efficiency < b.spectral_efficiency for a, b in zip(rows, rows[1:]))
    assert modcod("QPSK 1/4").ideal_esn0_db == -2.35 and modcod("32APSK 9/10").ideal_esn0_db == 16.05
    with pytest.raises(ValueError, match="unknown MODCOD"):
        modcod("QPSK 7/8")


def test_fer_waterfall():
    thr = 4.03
    assert float(frame_error_rate(thr, thr, 0.3)) == pytest.approx(1e-7, rel=1e-6)
    assert float(frame_error_rate(thr - 0.3, thr, 0.3)) == pytest.approx(0.5, abs=1e-9)
    assert float(frame_error_rate(thr - 2.0, thr, 0.3)) > 1 - 1e-12
    assert float(frame_error_rate(thr + 1.0, thr, 0.3)) < 1e-30
    x = np.linspace(-3, 3, 61)
    assert np.all(np.diff(frame_error_rate(x, 0.0, 0.3)) <= 0)
    # A 1115-octet CADU+ASM frame over QPSK 1/2 BBFRAMEs (32128 data bits) touches 1.318 BBFRAMEs on average.
    assert float(transfer_frame_loss_probability(1e-4, 10232, 32128)) == pytest.approx(1.3185e-4, rel=1e-3)
    assert float(transfer_frame_loss_probability(1.0, 10232, 32128)) == pytest.approx(1.0)


def test_acm_picks_most_efficient_modcod_with_margin():
    cfg = LinkConfig(**{**HAND, "mode": "acm", "modcods": tuple(m.name for m in DVBS2_MODCODS), "margin_db": 1.0})
    ranges = np.array([500.0, 1000.0, 2000.0, 3000.0, 30000.0, 300000.0])
    b = link_budget(cfg, ranges, np.full(ranges.size, 30.0))
    for esn0, idx, rate in zip(b.esn0_db, b.modcod_index, b.rate_bps):
        ok = [m for m in DVBS2_MODCODS if m.ideal_esn0_db + 1.0 <= esn0]
        if not ok:
            assert idx == -1 and rate == 0.0
            continue
        best = max(ok, key=lambda m: m.spectral_efficiency)
        assert DVBS2_MODCODS[idx] is best
        assert rate == pytest.approx(1e6 * best.spectral_efficiency)
    assert b.modcod_index[-1] == -1 and b.fer[-1] == 1.0
    assert np.all(np.diff(b.rate_bps) <= 0)  # farther → never faster
    on = b.modcod_index >= 0
    assert np.all(b.margin_db[on] >= 1.0) and np.all(b.fer[on] < 1e-7)


def test_ccm_fails_below_threshold_and_vcm_follows_elevation_bands():
    ccm = LinkConfig(**{**HAND, "modcods": ("8PSK 3/4",)})
    far = link_budget(ccm, 60000.0, 30.0)  # Es/N0 ≈ −18 dB: far below 7.91 dB
    assert far.modcod_index[0] == [m.name for m in DVBS2_MODCODS].index("8PSK 3/4")
    assert far.rate_bps[0] > 0 and far.fer[0] == pytest.approx(1.0)
    vcm = LinkConfig(**{**HAND, "mode": "vcm", "vcm_schedule": ((5.0, "QPSK 1/2"), (30.0, "8PSK 3/4"))})
    b = link_budget(vcm, np.array([2000.0, 1500.0, 800.0]), np.array([2.0, 10.0, 45.0]))
    names = [DVBS2_MODCODS[i].name if i >= 0 else None for i in b.modcod_index]
    assert names == [None, "QPSK 1/2", "8PSK 3/4"]
    assert b.rate_bps[0] == 0.0


def test_eirp_vs_off_nadir_table():
    cfg = LinkConfig(**{**HAND, "eirp_vs_off_nadir": ((0.0, 6.0), (60.0, 12.0))})
    b = link_budget(cfg, np.array([1000.0, 1000.0]), np.array([30.0, 30.0]), np.array([30.0, 70.0]))
    assert b.eirp_dbw.tolist() == [9.0, 12.0]
    with pytest.raises(ValueError, match="off_nadir"):
        link_budget(cfg, 1000.0, 30.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"frequency_hz": 0.0},
        {"symbol_rate_sps": -1.0},
        {"rolloff": 1.5},
        {"mode": "xcm"},
        {"mode": "vcm"},
        {"modcods": ("QPSK 7/8",)},
        {"waterfall_width_db": 0.0},
        {"eirp_vs_off_nadir": ((10.0, 1.0), (5.0, 2.0))},
    ],
)
def test_link_config_validation(bad):
    with pytest.raises(ValueError):
        LinkConfig(**{**HAND, **bad})
