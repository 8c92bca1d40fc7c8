"""Training data: random crops from image files, folders or the shared data manifest (training only).

Images are normalised per band to [0, 1] with the band's own (min, max), exactly as the onboard encoder
normalises a scene, so the network sees the same value distribution in training and in flight.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from onboard.imageio import read_array
from onboard.padding import fade_pad

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".bmp"}


def load_array(path: str | Path) -> np.ndarray:
    """Read an image or cube as (H, W, C) (see :func:`onboard.imageio.read_array`)."""
    return read_array(path, keep_2d=False)


# (red, green, blue) band names of the sensors in the shared data: Landsat 8 OLI (L1 DN and L2 surface
# reflectance), Sentinel-2 MSI, CBERS-4/4A WFI and AWFI, CBERS-4 MUX
TRUE_COLOUR_BANDS = (("B4", "B3", "B2"), ("SR_B4", "SR_B3", "SR_B2"), ("B04", "B03", "B02"),
                     ("BAND15", "BAND14", "BAND13"), ("BAND7", "BAND6", "BAND5"))


def band_names(path: str | Path) -> list[str]:
    """The band names an ``.npz`` file lists in its ``bands`` array; ``[]`` for any other file."""
    p = Path(path)
    if p.suffix.lower() != ".npz":
        return []
    with np.load(p) as z:
        return [str(n) for n in z["bands"]] if "bands" in z.files else []


def true_colour_indexes(names: list[str]) -> list[int] | None:
    """Indexes of the (red, green, blue) bands among ``names`` (:data:`TRUE_COLOUR_BANDS`), or None.

    >>> true_colour_indexes(["B02", "B03", "B04", "B08"])
    [2, 1, 0]
    >>> true_colour_indexes(["B05", "B06"]) is None
    True
    """
    for triple in TRUE_COLOUR_BANDS:
        if all(n in names for n in triple):
            return [names.index(n) for n in triple]
    return None


def load_image(path: str | Path, true_colour: bool = False) -> np.ndarray:
    """:func:`load_array`, or with ``true_colour`` the file's red, green and blue bands in that order when its
    band names say which they are (a Landsat 8 ``B2 B3 B4`` file becomes R, G, B; a 10-band Sentinel-2 file
    its ``B04 B03 B02`` composite)."""
    arr = load_array(path)
    idx = true_colour_indexes(band_names(path)) if true_colour else None
    return np.ascontiguousarray(arr[:, :, idx]) if idx is not None else arr


def normalise_bands(arr: np.ndarray, exponent: float = 1.0) -> np.ndarray:
    """(H, W, C) integer array -> float32 in [0, 1] per band by the band's (min, max), raised to ``exponent``:
    :func:`onboard.encoder.normalise` with the ranges the encoder would send."""
    from onboard.container import band_ranges_of
    from onboard.encoder import normalise

    return normalise(arr, band_ranges_of(arr), exponent)


def manifest_files(data_root: str | Path, purpose: str = "train", bands: int | None = 3,
                   true_colour: bool = False) -> list[Path]:
    """Files of ``data_root/manifest.json`` whose purpose starts with ``purpose`` and band count matches;
    with ``true_colour`` (and ``bands=3``) also the multi-band files whose band names give a true-colour
    composite (:func:`load_image`)."""
    root = Path(data_root)
    entries = json.loads((root / "manifest.json").read_text())["files"]
    out = []
    for e in entries:
        if not str(e.get("purpose", "")).startswith(purpose):
            continue
        shape = e["shape"]
        if len(shape) not in (2, 3):
            continue  # e.g. (N, H, W, C) scene stacks
        n_bands = shape[-1] if len(shape) == 3 else 1
        composite = (true_colour and bands == 3 and n_bands > 3
                     and true_colour_indexes(band_names(root / e["file"])) is not None)
        if bands is not None and n_bands != bands and not composite:
            continue
        out.append(root / e["file"])
    return sorted(out)


def collect_files(source: str | Path, bands: int = 3, purpose: str = "train", true_colour: bool = False
                  ) -> list[Path]:
    """A folder with ``manifest.json`` (its ``purpose`` files, see :func:`manifest_files`), any other folder
    (all images), or a file."""
    p = Path(source)
    if p.is_file():
        return [p]
    if (p / "manifest.json").exists():
        return manifest_files(p, purpose=purpose, bands=bands, true_colour=true_colour)
    return sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES | {".npz", ".npy"})


class CropSampler:
    """Random crops with flips and 90-degree rotations from a set of normalised images held in memory.

    ``sample(batch, rng)`` -> float32 (batch, C, crop, crop). Images smaller than the crop are skipped.
    ``sampling="area"`` (default) draws each crop's image in proportion to its pixel count, so every training
    pixel is equally likely: a few large satellite scenes weigh as much as the hundreds of small aerial tiles
    that cover the same area. ``sampling="image"`` draws images uniformly (small tiles and large scenes equally
    likely; with the shared data 93 % of crops then come from the UC Merced tiles). ``true_colour``: read files
    whose band names say which bands are red, green and blue in that order (:func:`load_image`).
    ``transfer``: the curve the onboard encoder puts the normalised bands through
    (:func:`onboard.encoder.image_transfer_exponent`; ``"auto"`` trains on what flight codes for > 8-bit data). ``high_bit_share``: if given, the share of crops
    drawn from the images of more than 8 bits (the satellite DN scenes), ``sampling`` applying within each of
    the two groups. ``low_contrast_share``: the share of crops whose values are squeezed into a random
    sub-range, ``a + c * x`` with ``c`` log-uniform in [:data:`LOW_CONTRAST_MIN`, 1] and an offset ``a`` in
    [0, 1 - c] per band: what a satellite scene looks like after the encoder's min-max range normalisation when
    clouds, water or saturated pixels set the range and the land fills a fraction of it (the models trained on
    full-range crops code such scenes far worse than JPEG 2000 does; ``docs/codec_record.md``).
    """

    def __init__(self, files: list[Path], bands: int, crop: int, sampling: str = "area", true_colour: bool = False,
                 transfer: str | float = "linear", high_bit_share: float | None = None,
                 low_contrast_share: float = 0.0):
        from onboard.encoder import bit_depth_of, image_transfer_exponent

        if sampling not in ("area", "image"):
            raise ValueError(f"sampling must be 'area' or 'image', not {sampling!r}")
        if high_bit_share is not None and not 0.0 <= high_bit_share <= 1.0:
            raise ValueError(f"high_bit_share must be in [0, 1], got {high_bit_share}")
        if not 0.0 <= low_contrast_share <= 1.0:
            raise ValueError(f"low_contrast_share must be in [0, 1], got {low_contrast_share}")
        self.crop = crop
        self.low_contrast_share = low_contrast_share
        self.images = []
        high = []
        for f in files:
            arr = load_image(f, true_colour)
            if arr.shape[-1] != bands or min(arr.shape[:2]) < crop:
                continue
            bit_depth = bit_depth_of(arr)
            self.images.append(normalise_bands(arr, image_transfer_exponent(transfer, bit_depth)))
            high.append(bit_depth > 8)
        if not self.images:
            raise ValueError(f"no usable {bands}-band image of at least {crop}x{crop} among {len(files)} files")
        self.high_bit_depth = np.array(high)
        area = np.array([im.shape[0] * im.shape[1] for im in self.images], dtype=np.float64)
        weights = area if sampling == "area" else np.ones_like(area)
        if high_bit_share is not None:
            if not self.high_bit_depth.any() or self.high_bit_depth.all():
                raise ValueError(f"high_bit_share needs images of both 8 and more bits; "
                                 f"{int(self.high_bit_depth.sum())} of {len(high)} have more than 8")
            hi, lo = weights * self.high_bit_depth, weights * ~self.high_bit_depth
            weights = high_bit_share * hi / hi.sum() + (1.0 - high_bit_share) * lo / lo.sum()
        self.probabilities = weights / weights.sum()

    def sample(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        c = self.crop
        out = np.empty((batch, self.images[0].shape[-1], c, c), dtype=np.float32)
        for b in range(batch):
            img = self.images[rng.choice(len(self.images), p=self.probabilities)]
            y = rng.integers(img.shape[0] - c + 1)
            x = rng.integers(img.shape[1] - c + 1)
            crop = img[y:y + c, x:x + c]
            crop = np.rot90(crop, k=int(rng.integers(4)))
            if rng.integers(2):
                crop = crop[:, ::-1]
            out[b] = np.transpose(crop, (2, 0, 1))
            # (no extra draws at share 0: the recorded runs' crop streams stay as they were)
            if self.low_contrast_share and rng.random() < self.low_contrast_share:
                out[b] = squeeze_contrast(out[b], rng)
        return out


LOW_CONTRAST_MIN = 0.2  # the lowest contrast CropSampler(low_contrast_share=...) squeezes a crop to


def squeeze_contrast(crop: np.ndarray, rng: np.random.Generator, c_min: float = LOW_CONTRAST_MIN) -> np.ndarray:
    """``a + c * crop`` for a (C, h, w) crop in [0, 1]: one contrast ``c`` log-uniform in [c_min, 1] and an
    offset ``a`` in [0, 1 - c] per band, so the result stays in [0, 1].

    >>> x = squeeze_contrast(np.linspace(0, 1, 8, dtype=np.float32).reshape(2, 2, 2), np.random.default_rng(0))
    >>> bool(0 <= x.min() and x.max() <= 1 and np.ptp(x[0]) < 1 and x.dtype == np.float32)
    True
    """
    c = float(np.exp(rng.uniform(np.log(c_min), 0.0)))
    a = rng.uniform(0.0, 1.0 - c, size=(crop.shape[0], 1, 1))
    return (a + c * crop).astype(np.float32)


def cube_files(data_root: str | Path, purpose: str = "train", min_bands: int = 3) -> list[tuple[Path, list[int]]]:
    """Multi/hyperspectral training cubes of ``data_root/manifest.json``: (file, scene indexes) pairs.

    Takes every ``hsi/`` and ``multispectral/`` file of the purpose with at least ``min_bands`` bands; 4-D
    stacks (N, H, W, C) list the scenes their purpose names (``train: scenes 0-1``)."""
    root = Path(data_root)
    out = []
    for e in json.loads((root / "manifest.json").read_text())["files"]:
        f = e["file"]
        if not f.startswith(("hsi/", "multispectral/")) or e["shape"][-1] < min_bands:
            continue
        p = str(e.get("purpose", ""))
        if len(e["shape"]) == 4:
            scenes = _scenes_for(p, purpose, e["shape"][0])
            if scenes:
                out.append((root / f, scenes))
        elif p.startswith(purpose):
            out.append((root / f, []))
    return out


def _scenes_for(purpose_text: str, purpose: str, n: int) -> list[int]:
    """Scene indexes of a 4-D stack whose purpose reads like 'train: scenes 0-1, dev-eval: scene 2'."""
    import re

    out = []
    for part in purpose_text.split(","):
        part = part.strip()
        if not part.startswith(purpose):
            continue
        m = re.search(r"(\d+)\s*-\s*(\d+)", part) or re.search(r"(\d+)", part)
        if m:
            a = int(m.group(1))
            b = int(m.group(2)) if m.lastindex and m.lastindex > 1 else a
            out.extend(i for i in range(a, b + 1) if i < n)
    return out


class CubeCropSampler:
    """Random crops of B bands from multi/hyperspectral cubes, for the channel-clustered codec.

    Each cube is normalised per band by the band's own (min, max) over the cube, as the encoder normalises a
    scene. A crop draws a cube (uniformly), a spatial window, flips/rotations, and B bands:

    - contiguous bands (probability 0.5), as the default clustering sends them;
    - a sorted random subset of B bands from a window of up to 3B consecutive bands (0.5): other sensors sample
      the spectrum more coarsely or finely, so the model must not learn one band spacing;
    - then the band order is reversed with probability 0.25;
    - a cube with fewer than B bands is padded by repeating its last band, as the encoder pads;
    - a cube smaller than the crop is taken whole and padded as the encoder pads an edge tile
      (:func:`onboard.padding.fade_pad`; the small airborne cubes are 100 x 100 and crops must be multiples of
      64; runs up to ``klt_b1m256``/``klt_ns128`` trained with plain edge replication).

    With ``spectral="klt"`` the crops are of spectral KLT components instead (:mod:`onboard.spectral`, the
    encoder's ``spectral="klt"`` mode): each cube is transformed once with up to ``klt_components``
    components on one common scale, a crop takes B consecutive components starting at component k with
    probability proportional to 1/(k + 1) (the strong components matter most, the weak ones must still
    be learnt to cost nearly nothing), and each component's sign is flipped with probability 0.5 (an
    eigenvector's sign is arbitrary: ``u -> 1 - u``).

    ``sample(batch, rng)`` -> float32 (batch, B, crop, crop).
    """

    def __init__(self, files: list[tuple[Path, list[int]]], cluster_bands: int, crop: int,
                 spectral: str = "none", klt_components: int = 16):
        if spectral not in ("none", "klt"):
            raise ValueError(f"spectral must be 'none' or 'klt', not {spectral!r}")
        self.b = cluster_bands
        self.crop = crop
        self.spectral = spectral
        self.cubes = []
        for f, scenes in files:
            arr = np.load(f)["data"] if f.suffix == ".npz" else read_array(f, keep_2d=False)
            stack = [arr[s] for s in scenes] if arr.ndim == 4 else [arr]
            for a in stack:
                if min(a.shape[:2]) < crop // 2:
                    continue
                if spectral == "klt":
                    from onboard.spectral import fit_klt

                    k = min(a.shape[2], klt_components)
                    self.cubes.append(fit_klt(a, n_components=k).forward(a))
                else:
                    self.cubes.append(normalise_bands(a))
        if not self.cubes:
            raise ValueError(f"no cube of at least {crop // 2}x{crop // 2} among {len(files)} files")

    def _components(self, k: int, rng: np.random.Generator) -> np.ndarray:
        b = self.b
        starts = np.arange(max(1, k - b + 1))
        p = 1.0 / (starts + 1.0)
        s = int(rng.choice(starts, p=p / p.sum()))
        idx = np.arange(s, min(s + b, k))
        if idx.size < b:
            idx = np.concatenate([idx, np.full(b - idx.size, idx[-1])])
        return idx

    def _bands(self, c: int, rng: np.random.Generator) -> np.ndarray:
        if self.spectral == "klt":
            return self._components(c, rng)
        b = self.b
        if c <= b:
            idx = np.arange(c)
        elif rng.random() < 0.5:
            s = int(rng.integers(c - b + 1))
            idx = np.arange(s, s + b)
        else:
            win = min(c, int(rng.integers(b, 3 * b + 1)))
            s = int(rng.integers(c - win + 1))
            idx = np.sort(rng.choice(np.arange(s, s + win), size=b, replace=False))
        if idx.size < b:
            idx = np.concatenate([idx, np.full(b - idx.size, idx[-1])])
        if rng.random() < 0.25:
            idx = idx[::-1]
        return idx

    def sample(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        c = self.crop
        out = np.empty((batch, self.b, c, c), dtype=np.float32)
        for k in range(batch):
            cube = self.cubes[rng.integers(len(self.cubes))]
            ch, cw = min(c, cube.shape[0]), min(c, cube.shape[1])
            y = rng.integers(cube.shape[0] - ch + 1)
            x = rng.integers(cube.shape[1] - cw + 1)
            crop = cube[y:y + ch, x:x + cw][:, :, self._bands(cube.shape[2], rng)]
            if self.spectral == "klt":
                flip = rng.random(crop.shape[2]) < 0.5
                crop = np.where(flip, 1.0 - crop, crop).astype(np.float32)
            if (ch, cw) != (c, c):
                crop = fade_pad(crop, c, c)
            crop = np.rot90(crop, k=int(rng.integers(4)))
            if rng.integers(2):
                crop = crop[:, ::-1]
            out[k] = np.transpose(crop, (2, 0, 1))
        return out


class PseudoComponentSampler:
    """Single-band crops that look like spectral KLT components, made from RGB images (training only).

    The small airborne cubes give the KLT codec few distinct scenes, and the component that carries most of
    the bits (the leading one) is a panchromatic-like image of exactly those scenes. This sampler turns the
    hundreds of RGB training images into more such planes: each crop is a random projection of an RGB crop
    (already normalised per band to [0, 1]) put on the scale the encoder's KLT uses (centred on 0.5):

    - with probability ``leading_share``: all-positive weights (Dirichlet(1, 1, 1)), at a contrast (range)
      drawn uniformly in [0.6, 1.0], like a leading component;
    - otherwise: weights of mixed signs (standard normal), at a contrast drawn log-uniformly in
      [0.02, 0.6], like the weaker components, whose texture is mostly edges and residual colour;
    - the sign is flipped with probability 0.5 (``u -> 1 - u``), as an eigenvector's sign is arbitrary.

    ``images`` are (H, W, 3) float arrays in [0, 1] (e.g. :attr:`CropSampler.images`).
    ``sample(batch, rng)`` -> float32 (batch, 1, crop, crop) in [0, 1].

    Example:
        >>> import numpy as np
        >>> img = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
        >>> s = PseudoComponentSampler([img], crop=32)
        >>> s.sample(2, np.random.default_rng(1)).shape
        (2, 1, 32, 32)
    """

    def __init__(self, images: list[np.ndarray], crop: int, leading_share: float = 0.5,
                 probabilities: np.ndarray | None = None):
        self.images = [im for im in images if min(im.shape[:2]) >= crop and im.ndim == 3]
        if not self.images:
            raise ValueError(f"no multi-band image of at least {crop}x{crop} for pseudo-components")
        self.crop = crop
        self.leading_share = float(leading_share)
        if probabilities is None or len(self.images) != len(images):
            area = np.array([im.shape[0] * im.shape[1] for im in self.images], dtype=np.float64)
            probabilities = area / area.sum()
        self.probabilities = np.asarray(probabilities, dtype=np.float64)

    def _plane(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        bands = crop.shape[-1]
        if rng.random() < self.leading_share:
            w = rng.dirichlet(np.ones(bands))
            contrast = rng.uniform(0.6, 1.0)
        else:
            w = rng.standard_normal(bands)
            w /= max(np.abs(w).sum(), 1e-6)
            contrast = float(np.exp(rng.uniform(np.log(0.02), np.log(0.6))))
        v = crop.astype(np.float64) @ w
        lo, hi = float(v.min()), float(v.max())
        u = (v - 0.5 * (lo + hi)) / max(hi - lo, 1e-6) * contrast + 0.5
        if rng.random() < 0.5:
            u = 1.0 - u
        return np.clip(u, 0.0, 1.0).astype(np.float32)

    def sample(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        c = self.crop
        out = np.empty((batch, 1, c, c), dtype=np.float32)
        for b in range(batch):
            img = self.images[rng.choice(len(self.images), p=self.probabilities)]
            y = rng.integers(img.shape[0] - c + 1)
            x = rng.integers(img.shape[1] - c + 1)
            plane = self._plane(img[y:y + c, x:x + c], rng)
            plane = np.rot90(plane, k=int(rng.integers(4)))
            if rng.integers(2):
                plane = plane[:, ::-1]
            out[b, 0] = plane
        return out


class MixedSampler:
    """Each crop of a batch from ``second`` with probability ``share``, else from ``first``.

    Both samplers must give the same crop shape. ``sample(batch, rng)`` keeps the batch order random.
    """

    def __init__(self, first, second, share: float):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be in [0, 1], got {share}")
        self.first, self.second, self.share = first, second, float(share)

    def sample(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        n2 = int(rng.binomial(batch, self.share))
        parts = [p for p in (self.first.sample(batch - n2, rng) if batch - n2 else None,
                             self.second.sample(n2, rng) if n2 else None) if p is not None]
        out = np.concatenate(parts, axis=0)
        return out[rng.permutation(batch)]
