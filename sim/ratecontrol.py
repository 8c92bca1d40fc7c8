"""Rate control: how much the coming passes can carry, and which package each new scene gets.

Capacity forecast (:class:`CapacityForecast`): every contact of the schedule is sampled every ``step_s`` with
the real link budget (geometry from sgp4, MODCOD from the link configuration); the information rate times
the frame efficiency (transfer-frame octets per CADU octet) integrates to the payload octets the link can move,
held as a cumulative curve so ``bytes_between(t0, t1)`` is one interpolation.

Policy ``fit`` (:func:`choose_package`): at an acquisition, the budget of the new scene is

    budget = (fill_target * capacity(t, t + horizon) - bytes already queued onboard) / scenes expected in horizon

and the scene gets the highest-rate candidate package whose coded size (measured by encoding it; encodings are
cached per image and package) fits the budget, else the lowest-rate one. Policy ``fixed``: always the last
(highest-rate) candidate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from sim.accounting import Contact, FramingConfig
from sim.link import LinkConfig, link_budget
from sim.orbit import look_angles


@dataclass(frozen=True)
class CapacityForecast:
    """Cumulative payload capacity of the contact schedule: ``t_s`` (seconds from start) -> octets."""

    t_s: np.ndarray
    cum_bytes: np.ndarray

    @classmethod
    def from_contacts(cls, sat, stations, links: list[LinkConfig], contacts: list[Contact], start: datetime,
                      framing: FramingConfig, step_s: float = 10.0) -> "CapacityForecast":
        ts, caps = [0.0], [0.0]
        eff = framing.frame_data_bytes / framing.cadu_bytes
        total = 0.0
        for c in contacts:
            n = max(1, math.ceil((c.end_s - c.start_s) / step_s))
            edges = np.linspace(c.start_s, c.end_s, n + 1)
            mids = 0.5 * (edges[:-1] + edges[1:])
            geo = look_angles(sat, stations[c.station_index], start, mids)
            lb = link_budget(links[c.station_index], geo.range_km, geo.elevation_deg, geo.off_nadir_deg)
            seg = lb.rate_bps * np.diff(edges) / 8.0 * eff * (1.0 - np.minimum(lb.fer, 1.0))
            ts.append(float(edges[0]))
            caps.append(total)
            for e, b in zip(edges[1:], seg):
                total += float(b)
                ts.append(float(e))
                caps.append(total)
        return cls(np.array(ts), np.array(caps))

    def bytes_between(self, t0_s: float, t1_s: float) -> float:
        return float(np.interp(t1_s, self.t_s, self.cum_bytes) - np.interp(t0_s, self.t_s, self.cum_bytes))

    @property
    def total_bytes(self) -> float:
        return float(self.cum_bytes[-1])


def scene_budget_bytes(forecast: CapacityForecast, t_s: float, horizon_s: float, queued_bytes: int,
                       scenes_in_horizon: int, fill_target: float) -> float:
    """Octets the scene acquired at ``t_s`` may take (see the module docstring)."""
    cap = forecast.bytes_between(t_s, t_s + horizon_s) * fill_target
    return (cap - queued_bytes) / max(1, scenes_in_horizon)


def choose_package(candidates: list, sizes_bytes, budget_bytes: float, policy: str = "fit") -> int:
    """Index of the chosen candidate (lowest rate first in ``candidates``). ``sizes_bytes(i)`` gives the coded
    size with candidate i (called from the highest rate down, so only what is needed gets encoded)."""
    if policy == "fixed":
        return len(candidates) - 1
    for i in range(len(candidates) - 1, -1, -1):
        if sizes_bytes(i) <= budget_bytes:
            return i
    return 0
