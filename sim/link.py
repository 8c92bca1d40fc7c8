"""Downlink budget per time step and DVB-S2 rate/frame-error model (CCM, VCM, ACM).

Chain (all in dB)::

    FSPL   = 20·log10(4π·d·f / c)
    L_atm  = A_zenith / sin(max(el, el_floor))           (simple cosecant-law model, see below)
    L      = FSPL + L_atm + L_pointing + L_polarisation + L_implementation + L_other
    C/N0   = EIRP − L + G/T − 10·log10(k)                (−10·log10(k) = 228.60 dB·K·Hz/W)
    Es/N0  = C/N0 − 10·log10(Rs)

Atmospheric model: zenith attenuation (gases + clouds, clear sky) scaled by the cosecant of the elevation with an
elevation floor (default 5°) so the loss stays finite near the horizon. Defaults: 0.3 dB below 4 GHz (S band),
0.5 dB up to 12 GHz (X band), 1.5 dB above (Ku/Ka, clear sky only). For ITU-R P.618 rain and gas models install
``itur`` and pass its zenith figure in ``zenith_attenuation_db``.

Frame error model (a documented waterfall, not a decoder simulation): with ``m = Es/N0 − Es/N0_QEF`` (the ideal
threshold of Table 13 below) ::

    FER(m) = ½·erfc(k·(m + w)),   k = erfcinv(2·10⁻⁷) / w

so FER = 10⁻⁷ (quasi error free, the table's definition) at the threshold, FER = ½ at ``w`` dB below it
(``waterfall_width_db``, default 0.3 dB — LDPC normal frames fall from 10⁻¹ to 10⁻⁷ in a few tenths of a dB),
and FER → 1 well below it. ACM picks the most efficient MODCOD whose threshold plus ``margin_db`` is met.

>>> round(float(fspl_db(1000.0, 2.2e9)), 2)
159.3
>>> round(float(frame_error_rate(1.0, 1.0, 0.3)), 9)
1e-07
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.special import erfc, erfcinv

from sim.errors import LinkConfigError

SPEED_OF_LIGHT_M_S = 299_792_458.0
BOLTZMANN_J_PER_K = 1.380649e-23
#: −10·log10(k) = 228.5991 dB(K·Hz/W); the "228.6" of link-budget sheets.
MINUS_BOLTZMANN_DB = -10.0 * math.log10(BOLTZMANN_J_PER_K)
#: FER the DVB-S2 Table 13 thresholds are defined at (quasi error free: PER 10⁻⁷).
QEF_FER = 1e-7
#: DVB-S2 normal FECFRAME length (bits) and physical-layer header length (slots of one symbol).
NORMAL_FECFRAME_BITS = 64800
PLHEADER_SYMBOLS = 90
BBHEADER_BITS = 80


@dataclass(frozen=True)
class Modcod:
    """One DVB-S2 modulation and coding (normal FECFRAME, no pilots).

    ``spectral_efficiency`` is information bits per transmitted symbol (PL and BB headers accounted for):
    ``(kbch_bits − 80) / (64800 / bits_per_symbol + 90)``.
    """

    name: str
    bits_per_symbol: int
    code_rate: float
    kbch_bits: int
    spectral_efficiency: float
    ideal_esn0_db: float

    @property
    def data_field_bits(self) -> int:
        """User bits per BBFRAME (K_bch minus the 80-bit BBHEADER)."""
        return self.kbch_bits - BBHEADER_BITS


# ETSI EN 302 307-1 V1.4.1 (2014-11), Table 13: "Spectral efficiency" and "Ideal Es/No (dB) for FECFRAME length =
# 64 800" (AWGN, QEF = PER 1e-7, no pilots); K_bch from Table 5a (normal FECFRAME).
# (name, bits/symbol, code rate, K_bch, spectral efficiency, ideal Es/N0 dB)
_TABLE_13 = (
    ("QPSK 1/4", 2, 1 / 4, 16008, 0.490243, -2.35),
    ("QPSK 1/3", 2, 1 / 3, 21408, 0.656448, -1.24),
    ("QPSK 2/5", 2, 2 / 5, 25728, 0.789412, -0.30),
    ("QPSK 1/2", 2, 1 / 2, 32208, 0.988858, 1.00),
    ("QPSK 3/5", 2, 3 / 5, 38688, 1.188304, 2.23),
    ("QPSK 2/3", 2, 2 / 3, 43040, 1.322253, 3.10),
    ("QPSK 3/4", 2, 3 / 4, 48408, 1.487473, 4.03),
    ("QPSK 4/5", 2, 4 / 5, 51648, 1.587196, 4.68),
    ("QPSK 5/6", 2, 5 / 6, 53840, 1.654663, 5.18),
    ("QPSK 8/9", 2, 8 / 9, 57472, 1.766451, 6.20),
    ("QPSK 9/10", 2, 9 / 10, 58192, 1.788612, 6.42),
    ("8PSK 3/5", 3, 3 / 5, 38688, 1.779991, 5.50),
    ("8PSK 2/3", 3, 2 / 3, 43040, 1.980636, 6.62),
    ("8PSK 3/4", 3, 3 / 4, 48408, 2.228124, 7.91),
    ("8PSK 5/6", 3, 5 / 6, 53840, 2.478562, 9.35),
    ("8PSK 8/9", 3, 8 / 9, 57472, 2.646012, 10.69),
    ("8PSK 9/10", 3, 9 / 10, 58192, 2.679207, 10.98),
    ("16APSK 2/3", 4, 2 / 3, 43040, 2.637201, 8.97),
    ("16APSK 3/4", 4, 3 / 4, 48408, 2.966728, 10.21),
    ("16APSK 4/5", 4, 4 / 5, 51648, 3.165623, 11.03),
    ("16APSK 5/6", 4, 5 / 6, 53840, 3.300184, 11.61),
    ("16APSK 8/9", 4, 8 / 9, 57472, 3.523143, 12.89),
    ("16APSK 9/10", 4, 9 / 10, 58192, 3.567342, 13.13),
    ("32APSK 3/4", 5, 3 / 4, 48408, 3.703295, 12.73),
    ("32APSK 4/5", 5, 4 / 5, 51648, 3.951571, 13.64),
    ("32APSK 5/6", 5, 5 / 6, 53840, 4.119540, 14.28),
    ("32APSK 8/9", 5, 8 / 9, 57472, 4.397854, 15.69),
    ("32APSK 9/10", 5, 9 / 10, 58192, 4.453027, 16.05),
)

#: The 28 DVB-S2 MODCODs of Table 13, in table order.
DVBS2_MODCODS: tuple[Modcod, ...] = tuple(Modcod(*row) for row in _TABLE_13)
_BY_NAME = {m.name: m for m in DVBS2_MODCODS}
ALL_MODCOD_NAMES: tuple[str, ...] = tuple(m.name for m in DVBS2_MODCODS)


def modcod(name: str) -> Modcod:
    """Look up a MODCOD by its name, e.g. ``"8PSK 3/4"``.

    >>> modcod("8PSK 3/4").ideal_esn0_db
    7.91
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise LinkConfigError(f"unknown MODCOD {name!r}; known: {', '.join(ALL_MODCOD_NAMES)}") from None


def default_zenith_attenuation_db(frequency_hz: float) -> float:
    """Clear-sky zenith attenuation of the default model: 0.3 dB (< 4 GHz), 0.5 dB (< 12 GHz), else 1.5 dB."""
    if frequency_hz < 4e9:
        return 0.3
    if frequency_hz < 12e9:
        return 0.5
    return 1.5


def fspl_db(range_km: np.ndarray | float, frequency_hz: float) -> np.ndarray:
    """Free-space path loss 20·log10(4π·d·f/c) in dB.

    >>> round(float(fspl_db(2000.0, 8.2e9)), 2)
    176.74
    """
    d_m = np.asarray(range_km, dtype=np.float64) * 1e3
    return 20.0 * np.log10(4.0 * math.pi * d_m * frequency_hz / SPEED_OF_LIGHT_M_S)


def atmospheric_loss_db(
    elevation_deg: np.ndarray | float, zenith_attenuation_db: float, elevation_floor_deg: float = 5.0
) -> np.ndarray:
    """Cosecant-law atmospheric loss: A_zenith / sin(max(el, floor)).

    >>> round(float(atmospheric_loss_db(30.0, 0.5)), 3)
    1.0
    """
    el = np.maximum(np.asarray(elevation_deg, dtype=np.float64), elevation_floor_deg)
    return zenith_attenuation_db / np.sin(np.radians(el))


def frame_error_rate(
    esn0_db: np.ndarray | float, threshold_esn0_db: np.ndarray | float, waterfall_width_db: float = 0.3
) -> np.ndarray:
    """FECFRAME error rate of the waterfall model: ½·erfc(k·(Es/N0 − threshold + w)), FER(threshold) = 1e-7.

    >>> [round(float(frame_error_rate(x, 0.0, 0.3)), 7) for x in (-3.0, -0.3, 0.0)]
    [1.0, 0.5, 1e-07]
    """
    if not waterfall_width_db > 0.0:
        raise LinkConfigError(f"waterfall_width_db={waterfall_width_db}; must be > 0")
    k = float(erfcinv(2.0 * QEF_FER)) / waterfall_width_db
    margin = np.asarray(esn0_db, dtype=np.float64) - np.asarray(threshold_esn0_db, dtype=np.float64)
    return 0.5 * erfc(k * (margin + waterfall_width_db))


def transfer_frame_loss_probability(
    fer: np.ndarray | float, frame_bits: int, data_field_bits: np.ndarray | int
) -> np.ndarray:
    """Probability that a transfer frame of ``frame_bits`` carried over DVB-S2 BBFRAMEs is hit by a FECFRAME error.

    A frame at a uniformly random offset in the BBFRAME stream touches on average ``1 + frame_bits / data_field``
    BBFRAMEs; each fails independently with ``fer``: ``1 − (1 − fer)^(1 + frame_bits/data_field)``.

    >>> round(float(transfer_frame_loss_probability(1e-3, 10232, 32128)), 6)
    0.001318
    """
    n = 1.0 + frame_bits / np.asarray(data_field_bits, dtype=np.float64)
    return -np.expm1(n * np.log1p(-np.minimum(np.asarray(fer, dtype=np.float64), 1.0 - 1e-16)))


LinkMode = Literal["ccm", "vcm", "acm"]


@dataclass(frozen=True)
class LinkConfig:
    """Downlink configuration (satellite transmitter, ground receiver, physical layer).

    - ``mode="ccm"``: the single MODCOD ``modcods[0]`` is always used.
    - ``mode="vcm"``: ``vcm_schedule`` = ((min_elevation_deg, modcod name), ...); the band with the highest
      ``min_elevation_deg`` not above the current elevation applies; below every band the link is off.
    - ``mode="acm"``: the most efficient MODCOD of ``modcods`` with ``ideal_esn0_db + margin_db <= Es/N0``.

    ``eirp_vs_off_nadir`` (optional) is a table ((off_nadir_deg, eirp_dbw), ...) interpolated linearly and
    replacing ``eirp_dbw``; ``zenith_attenuation_db=None`` uses :func:`default_zenith_attenuation_db`.

    >>> cfg = LinkConfig(frequency_hz=2.2e9, mode="ccm", modcods=("QPSK 1/2",))
    >>> round(cfg.occupied_bandwidth_hz / 1e6, 1)
    27.0
    """

    frequency_hz: float = 8.2e9
    eirp_dbw: float = 10.0
    gt_dbk: float = 25.0
    symbol_rate_sps: float = 20e6
    rolloff: float = 0.35
    mode: LinkMode = "acm"
    modcods: tuple[str, ...] = ALL_MODCOD_NAMES
    vcm_schedule: tuple[tuple[float, str], ...] = ()
    margin_db: float = 1.0
    zenith_attenuation_db: float | None = None
    atmosphere_elevation_floor_deg: float = 5.0
    pointing_loss_db: float = 0.5
    polarization_loss_db: float = 0.2
    implementation_loss_db: float = 1.0
    other_losses_db: float = 0.0
    eirp_vs_off_nadir: tuple[tuple[float, float], ...] | None = None
    waterfall_width_db: float = 0.3
    _modcod_objs: tuple[Modcod, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.frequency_hz > 0:
            raise LinkConfigError(f"frequency_hz={self.frequency_hz}; must be > 0")
        if not self.symbol_rate_sps > 0:
            raise LinkConfigError(f"symbol_rate_sps={self.symbol_rate_sps}; must be > 0")
        if not 0.0 <= self.rolloff <= 1.0:
            raise LinkConfigError(f"rolloff={self.rolloff}; must be in [0, 1]")
        if self.mode not in ("ccm", "vcm", "acm"):
            raise LinkConfigError(f"mode={self.mode!r}; must be 'ccm', 'vcm' or 'acm'")
        if not self.waterfall_width_db > 0:
            raise LinkConfigError(f"waterfall_width_db={self.waterfall_width_db}; must be > 0")
        if self.mode == "ccm" and len(self.modcods) < 1:
            raise LinkConfigError("mode='ccm' needs one MODCOD in modcods (modcods[0] is used)")
        if self.mode == "acm" and len(self.modcods) < 1:
            raise LinkConfigError("mode='acm' needs at least one MODCOD in modcods")
        if self.mode == "vcm" and not self.vcm_schedule:
            raise LinkConfigError("mode='vcm' needs vcm_schedule=((min_elevation_deg, modcod), ...)")
        for _, name in self.vcm_schedule:
            modcod(name)
        if self.eirp_vs_off_nadir is not None:
            angles = [a for a, _ in self.eirp_vs_off_nadir]
            if len(angles) < 1 or any(b <= a for a, b in zip(angles, angles[1:])):
                raise LinkConfigError(f"eirp_vs_off_nadir angles must be strictly increasing, got {angles}")
        objs = tuple(modcod(n) for n in self.modcods)
        object.__setattr__(self, "_modcod_objs", objs)

    @property
    def occupied_bandwidth_hz(self) -> float:
        """Rs·(1 + rolloff)."""
        return self.symbol_rate_sps * (1.0 + self.rolloff)

    @property
    def zenith_db(self) -> float:
        """Zenith attenuation used (configured or the frequency default)."""
        if self.zenith_attenuation_db is not None:
            return self.zenith_attenuation_db
        return default_zenith_attenuation_db(self.frequency_hz)

    @property
    def fixed_losses_db(self) -> float:
        """Pointing + polarisation + implementation + other losses."""
        return self.pointing_loss_db + self.polarization_loss_db + self.implementation_loss_db + self.other_losses_db

    @property
    def modcod_objects(self) -> tuple[Modcod, ...]:
        """The ``Modcod`` records of ``modcods``."""
        return self._modcod_objs


@dataclass(frozen=True)
class LinkBudget:
    """Per-step link budget and physical-layer outcome; every field is an array of shape (N,).

    ``modcod_index`` indexes :data:`DVBS2_MODCODS` (−1: link off, ``rate_bps`` 0, ``fer`` 1).
    ``margin_db`` is Es/N0 minus the chosen MODCOD's ideal threshold (NaN when off).
    """

    range_km: np.ndarray
    elevation_deg: np.ndarray
    fspl_db: np.ndarray
    atmospheric_loss_db: np.ndarray
    total_loss_db: np.ndarray
    eirp_dbw: np.ndarray
    cn0_dbhz: np.ndarray
    esn0_db: np.ndarray
    ebn0_db: np.ndarray
    modcod_index: np.ndarray
    rate_bps: np.ndarray
    fer: np.ndarray
    margin_db: np.ndarray


def _select_modcod(config: LinkConfig, esn0: np.ndarray, elevation: np.ndarray) -> np.ndarray:
    idx = np.full(esn0.shape, -1, dtype=np.int64)
    table_index = {m.name: i for i, m in enumerate(DVBS2_MODCODS)}
    if config.mode == "ccm":
        idx[:] = table_index[config.modcods[0]]
    elif config.mode == "vcm":
        for min_el, name in sorted(config.vcm_schedule):
            idx[elevation >= min_el] = table_index[name]
    else:
        best_eff = np.full(esn0.shape, -1.0)
        for m in config.modcod_objects:
            ok = (esn0 >= m.ideal_esn0_db + config.margin_db) & (m.spectral_efficiency > best_eff)
            idx[ok] = table_index[m.name]
            best_eff[ok] = m.spectral_efficiency
    return idx


def link_budget(
    config: LinkConfig,
    range_km: np.ndarray | float,
    elevation_deg: np.ndarray | float,
    off_nadir_deg: np.ndarray | float | None = None,
) -> LinkBudget:
    """Evaluate the link at each (range, elevation[, off-nadir]) sample.

    >>> cfg = LinkConfig(frequency_hz=2.2e9, eirp_dbw=10.0, gt_dbk=0.0, symbol_rate_sps=1e6, mode="ccm",
    ...                  modcods=("QPSK 1/2",), zenith_attenuation_db=0.3, pointing_loss_db=0.0,
    ...                  polarization_loss_db=0.0, implementation_loss_db=0.0)
    >>> b = link_budget(cfg, 1000.0, 90.0)
    >>> round(float(b.cn0_dbhz[0]), 2), round(float(b.esn0_db[0]), 2), float(b.rate_bps[0])
    (79.0, 19.0, 988858.0)
    """
    rng_km = np.atleast_1d(np.asarray(range_km, dtype=np.float64))
    el = np.broadcast_to(np.atleast_1d(np.asarray(elevation_deg, dtype=np.float64)), rng_km.shape).copy()
    fs = fspl_db(rng_km, config.frequency_hz)
    atm = atmospheric_loss_db(el, config.zenith_db, config.atmosphere_elevation_floor_deg)
    total = fs + atm + config.fixed_losses_db
    if config.eirp_vs_off_nadir is not None:
        if off_nadir_deg is None:
            raise LinkConfigError("eirp_vs_off_nadir is set: link_budget needs off_nadir_deg")
        ang = np.array([a for a, _ in config.eirp_vs_off_nadir])
        val = np.array([v for _, v in config.eirp_vs_off_nadir])
        off = np.broadcast_to(np.atleast_1d(np.asarray(off_nadir_deg, dtype=np.float64)), rng_km.shape)
        eirp = np.interp(off, ang, val)
    else:
        eirp = np.full(rng_km.shape, float(config.eirp_dbw))
    cn0 = eirp - total + config.gt_dbk + MINUS_BOLTZMANN_DB
    esn0 = cn0 - 10.0 * math.log10(config.symbol_rate_sps)
    idx = _select_modcod(config, esn0, el)
    on = idx >= 0
    eff = np.array([m.spectral_efficiency for m in DVBS2_MODCODS])
    thr = np.array([m.ideal_esn0_db for m in DVBS2_MODCODS])
    safe = np.where(on, idx, 0)
    rate = np.where(on, config.symbol_rate_sps * eff[safe], 0.0)
    fer = np.where(on, frame_error_rate(esn0, thr[safe], config.waterfall_width_db), 1.0)
    margin = np.where(on, esn0 - thr[safe], np.nan)
    ebn0 = np.where(on, esn0 - 10.0 * np.log10(eff[safe]), np.nan)
    return LinkBudget(rng_km, el, fs, atm, total, eirp, cn0, esn0, ebn0, idx, rate, fer, margin)
