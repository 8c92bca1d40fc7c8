"""The shipped model packages (package data, found through ``importlib.resources``).

Every name in :func:`available` is one package at one rate point, e.g. ``hp-rgb-q3`` (image codec, 3
bands, rate 3) or ``cc-b8-q2`` (channel-clustered codec, B = 8). :func:`available` lists a family from low
to high rate (by the manifest's rate index): ``<family>-qm<k>`` are points k steps under ``q0``
(``tools.extend_rates``), so ``cc-klt-qm2``, ``cc-klt-qm1``, ``cc-klt-q0`` ... ``cc-klt-q7``.

Example:
    >>> import onboard
    >>> names = onboard.zoo.available()
    >>> pkg = onboard.zoo.load(names[0])                                 # doctest: +SKIP
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from onboard.package import MANIFEST, ModelPackage, PackageNotFoundError, load_package, read_manifest

_CACHE: dict[str, ModelPackage] = {}


def _root() -> Path:
    return Path(str(resources.files("onboard.zoo") / "packages"))


def family_of(name: str) -> str:
    """The family a rate point's name belongs to: the name without its ``-q<rate>`` suffix.

    >>> family_of("cc-klt-q3"), family_of("cc-klt-qm1"), family_of("hp-rgb")
    ('cc-klt', 'cc-klt', 'hp-rgb')
    """
    return name.rsplit("-q", 1)[0]


def listing_key(manifest: dict) -> tuple[str, int, str]:
    """Sort key of a package manifest in :func:`available`: family, then rate index (so ``qm<k>`` points under
    ``q0`` come first), then name."""
    return family_of(manifest["name"]), int(manifest["rate"]["index"]), manifest["name"]


def available() -> list[str]:
    """Names of the shipped packages, sorted by family then rate index."""
    root = _root()
    if not root.is_dir():
        return []
    manifests = [read_manifest(d) for d in root.iterdir() if (d / MANIFEST).is_file()]
    return [m["name"] for m in sorted(manifests, key=listing_key)]


def path_of(name: str) -> Path:
    """Directory of the shipped package ``name``."""
    p = _root() / name
    if not (p / MANIFEST).is_file():
        raise PackageNotFoundError(f"no shipped package named {name!r}; available: {', '.join(available())}")
    return p


def load(name: str) -> ModelPackage:
    """Load (once per process, verified) the shipped package ``name``."""
    pkg = _CACHE.get(name)
    if pkg is None:
        pkg = _CACHE[name] = load_package(path_of(name))
    return pkg


def resolve(package) -> ModelPackage:
    """A :class:`ModelPackage` from a package, a zoo name, or a package directory."""
    if isinstance(package, ModelPackage):
        return package
    if isinstance(package, (str, Path)):
        p = Path(package)
        if (p / MANIFEST).is_file():
            return load_package(p)
        if isinstance(package, str) and "/" not in package and "\\" not in package:
            return load(package)
        raise PackageNotFoundError(f"{package}: neither a zoo name nor a package directory")
    raise TypeError(f"package must be a ModelPackage, a zoo name or a path, got {type(package).__name__}")


def find_by_id(package_id: str, search: list[str | Path] | None = None) -> ModelPackage:
    """The package (shipped, or in a directory of ``search``) whose id is ``package_id`` (hex)."""
    dirs = [Path(s) for s in (search or [])]
    candidates = []
    for d in dirs:
        if (d / MANIFEST).is_file():
            candidates.append(d)
        elif d.is_dir():
            candidates.extend(q for q in sorted(d.iterdir()) if (q / MANIFEST).is_file())
    candidates.extend(_root() / n for n in available())
    for c in candidates:
        if read_manifest(c).get("package_id") == package_id:
            return load_package(c)
    from onboard.errors import PackageMismatchError

    raise PackageMismatchError(f"no model package with id {package_id[:16]}... among the shipped packages"
                               + (f" and {', '.join(map(str, dirs))}" if dirs else ""))
