"""Reports of a simulation run: the timeline CSV and the PNG plots (matplotlib, Agg backend).

Plots written to the output folder:

- ``passes.png``: elevation of every pass over time, one colour per station, contacts used shaded;
- ``data_rate.png``: information rate of the link per step and frames lost;
- ``storage.png``: onboard storage fill (bytes queued) over time against the capacity;
- ``scenes.png``: per scene, latency to complete delivery and PSNR of the product (with the PSNR the scene
  would have had with every chunk, i.e. what rate control chose).
"""
from __future__ import annotations

import csv
import math
from datetime import timedelta
from pathlib import Path

import numpy as np


def write_timeline_csv(path: Path, result, scenario) -> None:
    """One row per simulated step of a contact: time, station, geometry, link, frames, items, bytes."""
    from sim.link import DVBS2_MODCODS

    tl = result.timeline
    names = [s.name for s in result.stations]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time_utc"] + ["station" if n == "station" else n for n in tl.dtype.names] + ["modcod_name"])
        for row in tl:
            t = scenario.start + timedelta(seconds=float(row["t_s"]))
            vals = []
            for n in tl.dtype.names:
                v = row[n]
                vals.append(names[int(v)] if n == "station" else (f"{float(v):.6g}" if isinstance(v, np.floating)
                                                                  else int(v)))
            mc = int(row["modcod"])
            w.writerow([t.isoformat()] + vals + [DVBS2_MODCODS[mc].name if mc >= 0 else "off"])


def write_plots(out: Path, scenario, result, state, sat) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.orbit import look_angles

    hours = lambda s: np.asarray(s, float) / 3600.0  # noqa: E731
    paths = []
    # passes and elevation
    fig, ax = plt.subplots(figsize=(10, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, st in enumerate(result.stations):
        for k, p in enumerate(result.passes[st.name]):
            a = (p.aos - result.start).total_seconds()
            b = (p.los - result.start).total_seconds()
            ts = np.linspace(a, b, 60)
            el = look_angles(sat, st, result.start, ts).elevation_deg
            ax.plot(hours(ts), el, color=colors[i % len(colors)], label=st.name if k == 0 else None)
    for c in result.contacts:
        ax.axvspan(c.start_s / 3600, c.end_s / 3600, color="grey", alpha=0.15, lw=0)
    ax.set_xlabel(f"hours since {scenario.start:%Y-%m-%d %H:%M} UTC")
    ax.set_ylabel("elevation (deg)")
    ax.set_title(f"{scenario.name}: passes ({sum(len(v) for v in result.passes.values())}); contacts used shaded")
    ax.set_xlim(0, scenario.duration_hours)
    ax.set_ylim(0, 90)
    ax.legend(loc="upper right", fontsize=8)
    paths.append(_save(fig, out / "passes.png"))
    # data rate
    tl = result.timeline
    fig, ax = plt.subplots(figsize=(10, 3.5))
    if tl.size:
        ax.plot(hours(tl["t_s"]), tl["rate_bps"] / 1e6, ".", ms=2, label="link information rate")
        lost = tl["frames_lost"] > 0
        ax.plot(hours(tl["t_s"][lost]), tl["rate_bps"][lost] / 1e6, "rx", ms=4, label="steps with frames lost")
    ax.set_xlabel("hours")
    ax.set_ylabel("Mbit/s")
    ax.set_xlim(0, scenario.duration_hours)
    ax.set_title("downlink rate per step (ACM/VCM/CCM from the link budget)")
    ax.legend(fontsize=8)
    paths.append(_save(fig, out / "data_rate.png"))
    # storage
    fig, ax = plt.subplots(figsize=(10, 3.5))
    pts = sorted(state.storage_samples + [(float(t), int(q)) for t, q in zip(tl["t_s"], tl["bytes_queued"])])
    if pts:
        t, q = zip(*pts)
        ax.step(hours(t), np.array(q) / 1e6, where="post")
    ax.axhline(scenario.storage_capacity_bytes / 1e6, color="r", ls="--", lw=1, label="capacity")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_xlabel("hours")
    ax.set_ylabel("MB queued onboard")
    ax.set_xlim(0, scenario.duration_hours)
    ax.set_title("onboard storage fill")
    ax.legend(fontsize=8)
    paths.append(_save(fig, out / "storage.png"))
    # per scene latency and PSNR
    recs = sorted(state.scenes.values(), key=lambda r: r.scene_id)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True)
    ids = [r.scene_id for r in recs]
    lat = [(r.complete_s - r.time_s) / 60 if not math.isnan(r.complete_s) else np.nan for r in recs]
    a1.bar(ids, lat, color="tab:blue")
    a1.set_ylabel("latency to ground (min)")
    a1.set_title("per scene: time from acquisition to complete delivery (missing bar: not complete)")
    a2.plot(ids, [r.psnr_onboard_db for r in recs], "s", mfc="none", label="as coded onboard (all chunks)")
    a2.plot(ids, [r.psnr_db for r in recs], "o", label="product on the ground")
    a2.set_ylabel("PSNR (dB)")
    a2.set_xlabel("scene id")
    a2.legend(fontsize=8)
    paths.append(_save(fig, out / "scenes.png"))
    return paths


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
