"""``satcomp decode INPUT... --out DIR``: raw recordings of channel-coded frames -> one HDF5 product per scene.

INPUT: files holding the concatenated CADUs as a ground station front end records them (garbage, gaps and
bit errors allowed), or folders of such files. Exit status 0 when every scene decoded, 1 when something could
not be decoded (it is saved and listed), 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("decode", help="decode recorded frames into HDF5 products (local or on a Dask cluster)")
    p.add_argument("inputs", nargs="+", help="recording files or folders of them")
    p.add_argument("--out", required=True, help="product folder (existing products are updated in place)")
    p.add_argument("--packages", action="append", default=[], help="folder of model packages besides the zoo")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--workers", type=int, default=None, help="local decoder threads (default: CPU count)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ground.pipeline import decode_recordings, list_inputs

    missing = [i for i in args.inputs if not list_inputs([i]) or not all(p.exists() for p in list_inputs([i]))]
    if missing:
        print(f"satcomp decode: error: no such input: {', '.join(missing)}")
        return 2
    rep = decode_recordings(args.inputs, args.out, packages=args.packages, scheduler=args.scheduler,
                            workers=args.workers, progress=not args.no_progress)
    for s in rep.scenes:
        lost = s["lost_chunks"]
        print(f"scene {s['scene_id']}: {s['received']}/{s['n_chunks']} chunks, package {s['package']}"
              + (f", lost {lost[:12]}{'...' if len(lost) > 12 else ''} (concealed)" if lost else "")
              + f" -> {s['product']}")
    t = rep.timings_s
    if t:
        print("stage seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in t.items()))
    print(f"recovery: {json.dumps(rep.recovery)}")
    for p in rep.problems:
        print(f"problem: {p}")
    print(f"{len(rep.products)} product(s) in {args.out}; report: {args.out}/decode_report.json")
    return 0 if rep.ok else 1
