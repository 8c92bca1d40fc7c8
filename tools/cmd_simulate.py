"""``satcomp simulate [SCENARIO] --out DIR``: the end-to-end downlink simulation (the project's main job).

SCENARIO is a TOML file or the name of a bundled scenario (default: ``cubesat-sband``).
"""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="fly a scenario: encoder, packets, passes, channel, ground decoder, products")
    p.add_argument("scenario", nargs="?", default=None,
                   help="scenario TOML file or bundled name (default: cubesat-sband; --list shows them)")
    p.add_argument("--out", default="out/simulate", help="output folder (summary.json, timeline.csv, products/, plots)")
    p.add_argument("--packages", default=None, help="folder of extra model packages (besides the zoo)")
    p.add_argument("--days", type=float, default=None, help="override the scenario duration (days)")
    p.add_argument("--mode", choices=["bit-true", "accounting"], default=None, help="override the channel mode")
    p.add_argument("--workers", type=int, default=None, help="decoder threads (default: CPU count)")
    p.add_argument("--list", action="store_true", help="list the bundled scenarios and exit")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from sim.runner import run_scenario
    from sim.scenario import DEFAULT_SCENARIO, bundled_scenarios, load_scenario

    if args.list:
        for name in bundled_scenarios():
            print(f"{name:16s} {load_scenario(name).description}")
        return 0
    sc = load_scenario(args.scenario or DEFAULT_SCENARIO)
    if args.days is not None:
        sc = dataclasses.replace(sc, duration_hours=24.0 * args.days)
    if args.mode is not None:
        sc = dataclasses.replace(sc, channel=dataclasses.replace(sc.channel, mode=args.mode))
    s = run_scenario(sc, args.out, progress=not args.no_progress, packages_dir=args.packages,
                     workers=args.workers)
    keys = ["scenario", "channel_mode", "passes", "contacts", "scenes_generated", "scenes_delivered",
            "scenes_partial", "bytes_generated", "bytes_delivered", "bytes_queued", "bytes_lost",
            "bytes_retransmitted", "frames_sent", "frames_lost", "psnr_db_delivered_mean", "latency_s_mean",
            "packages_used", "wall_s", "speedup_vs_real_time"]
    for k in keys:
        print(f"{k:>26}: {json.dumps(s[k])}")
    print(f"{'outputs':>26}: {args.out}/summary.json, timeline.csv, scenes.csv, products/*.h5, *.png")
    return 0
