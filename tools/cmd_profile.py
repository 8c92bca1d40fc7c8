"""``satcomp profile``: latency, throughput, real-time factor and energy of a package's encoder per target.

    satcomp profile --package P --profile NAME|all [--tile 512x512] [--out DIR] [--instrument-msps 10] [--runs N]

The work is done by :func:`hw_profiles.profiler.profile_package`; this module parses arguments and prints.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parse_tile(text: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.lower().replace("*", "x").split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"tile must look like 512x512, got {text!r}")
    return parts[0], parts[1]


def resolve_package(package: str) -> Path:
    """A package directory as given, else a zoo name through ``onboard.zoo.path_of``."""
    p = Path(package)
    if p.is_dir():
        return p
    try:
        import onboard.zoo as zoo

        path_of = zoo.path_of
    except (ImportError, AttributeError) as exc:
        raise LookupError(f"--package {package!r} is not a directory, and the model zoo cannot resolve names "
                          f"here ({exc})") from exc
    try:
        return Path(path_of(package))
    except (KeyError, LookupError, ValueError, FileNotFoundError) as exc:
        avail = ""
        try:
            avail = f"; zoo packages: {', '.join(zoo.available())}"
        except Exception:  # noqa: BLE001 - the listing is only a hint
            pass
        raise LookupError(f"--package {package!r} is neither a directory nor a zoo name ({exc}){avail}") from exc


def run(args: argparse.Namespace) -> int:
    from hw_profiles.profiler import profile_package
    from hw_profiles.schema import ProfileError

    try:
        pkg = resolve_package(args.package)
        variants = [v.strip() for v in args.variant.split(",") if v.strip()]
        report = profile_package(pkg, args.profile, tile=args.tile, variants=variants, runs=args.runs,
                                 warmup=args.warmup, threads=args.threads, instrument_msps=args.instrument_msps)
    except (LookupError, FileNotFoundError, ProfileError, ValueError) as exc:
        print(f"satcomp profile: error: {exc}", file=sys.stderr)
        return 2
    print(report.to_text())
    if args.out:
        paths = report.write(args.out)
        print("\nwrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="estimate encoder latency, throughput and energy on payload computers",
                       description="Profile a model package's encoder (g_a then h_a) on hardware profiles: "
                                   "host latency measured with ONNX Runtime, each target by a roofline "
                                   "calibrated against the host.")
    p.add_argument("--package", required=True, help="model package directory or zoo name")
    p.add_argument("--profile", default="all",
                   help="hardware profile name (TOML stem), a comma-separated list, or 'all' (default)")
    p.add_argument("--tile", type=_parse_tile, default=(512, 512), help="tile size HxW (default 512x512)")
    p.add_argument("--out", default=None, help="directory for profile.json, profile.txt and profile.png")
    p.add_argument("--instrument-msps", type=float, default=10.0,
                   help="instrument data rate in Msample/s for the real-time factor (default 10)")
    p.add_argument("--runs", type=int, default=10, help="timed host runs (default 10; 0 = no measurement)")
    p.add_argument("--warmup", type=int, default=2, help="untimed warm-up runs (default 2)")
    p.add_argument("--threads", type=int, default=None,
                   help="ONNX Runtime intra-op threads on the host (default: host profile's threads)")
    p.add_argument("--variant", default="fp32,int8", help="encoder variants to profile (default fp32,int8)")
    p.set_defaults(func=run)
