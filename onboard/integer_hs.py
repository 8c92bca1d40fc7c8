"""The integer hyper-synthesis: z_hat -> scale-table indexes for y, in integer arithmetic only.

This numpy int64 implementation is NORMATIVE: the onboard encoder and the ground decoder both run it (or its
all-integer ONNX graph, which tests prove equal bit for bit), so the indexes that choose the CDF tables of
``y`` are identical on every machine (Ballé, Johnston, Minnen, ICLR 2019).

Network (every conv 3x3, stride 1, explicit zero padding of the real value, i.e. the input's zero point)::

    x0 = clip(z_hat, -128, 127)                                     (real integer; stored uint8, zero point 128)
    for layer l in (1, 2):
        acc  = conv(x, w_l)                                        (int8 weights in [-127, 127], int32-safe acc)
        q    = min((max(acc + bias_l, 0) * mult_l + 2**(shift_l-1)) >> shift_l, 255)   (uint8, zero point 0)
        x    = depth_to_space(q, 2, mode="CRD")
    v   = conv(x, w_3) + bias_3                                     (int64)
    idx = sum_i [v[c] >= thresholds[c, i]]                          (int32 index into the 64-entry scale table)

``mult_l``, ``bias_l`` are per output channel; the thresholds fold the weight/activation scales, the rate
point's gain and the geometric midpoints of the scale table into one integer per (channel, boundary).

Example:
    >>> p = IntegerHyperSynthesis.random(nz=4, n=8, m=6, n_thresholds=63, seed=0)
    >>> p.indexes(np.zeros((1, 4, 2, 2), np.int32)).shape
    (1, 6, 8, 8)
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np

ZHAT_MIN, ZHAT_MAX = -128, 127
ACT_MAX = 255


@dataclass(frozen=True)
class IntLayer:
    """One integer conv layer. ``weight`` int8 values held as int64 (Cout, Cin, 3, 3)."""

    weight: np.ndarray
    bias: np.ndarray
    mult: np.ndarray | None  # None for the last layer (no requantisation)
    shift: int

    def __post_init__(self) -> None:
        w = self.weight
        if w.ndim != 4 or w.shape[2:] != (3, 3):
            raise ValueError(f"weight must be (Cout, Cin, 3, 3), got {w.shape}")
        if w.min() < -127 or w.max() > 127:
            raise ValueError(f"weights outside int8 [-127, 127]: min {w.min()}, max {w.max()}")
        if self.bias.shape != (w.shape[0],):
            raise ValueError(f"bias shape {self.bias.shape} != ({w.shape[0]},)")
        if self.mult is not None and (self.mult.shape != (w.shape[0],) or self.mult.min() < 0):
            raise ValueError("mult must be non-negative, one per output channel")
        if not 0 <= self.shift <= 48:
            raise ValueError(f"shift {self.shift} outside 0..48")


EXACT_FLOAT_LIMIT = 2 ** 53  # every integer of smaller magnitude is a float64, and so is every sum of them


def _conv3x3_int(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact integer 3x3 'same' conv: x (B, Cin, H, W) integers, w (Cout, Cin, 3, 3) -> int64 (B, Cout, H, W).

    Computed as a float64 matrix product (BLAS), which is EXACT here: inputs and weights are integers, and
    the bound ``max|x| * max|w| * 9 * Cin < 2**53`` (checked) keeps every product and every partial sum an
    integer that float64 represents exactly, so the result does not depend on the summation order, the
    BLAS library, the thread count or the machine.
    """
    b, cin, h, wd = x.shape
    bound = int(np.max(np.abs(x), initial=0)) * int(np.max(np.abs(w), initial=0)) * 9 * cin
    if bound >= EXACT_FLOAT_LIMIT:
        raise ValueError(f"integer conv bound {bound} >= 2**53: float64 would not be exact")
    xp = np.zeros((cin, b, h + 2, wd + 2), dtype=np.float64)
    xp[:, :, 1:-1, 1:-1] = x.transpose(1, 0, 2, 3)
    cols = np.empty((cin, 3, 3, b, h, wd), dtype=np.float64)
    for ky in range(3):
        for kx in range(3):
            cols[:, ky, kx] = xp[:, :, ky:ky + h, kx:kx + wd]
    wm = w.reshape(w.shape[0], cin * 9).astype(np.float64)
    out = wm @ cols.reshape(cin * 9, b * h * wd)  # one GEMM for the whole batch
    return out.astype(np.int64).reshape(w.shape[0], b, h, wd).transpose(1, 0, 2, 3)


def depth_to_space_crd(x: np.ndarray, r: int = 2) -> np.ndarray:
    """ONNX DepthToSpace mode CRD (= torch.pixel_shuffle): (B, C*r*r, H, W) -> (B, C, H*r, W*r)."""
    b, c, h, w = x.shape
    c_out = c // (r * r)
    x = x.reshape(b, c_out, r, r, h, w).transpose(0, 1, 4, 2, 5, 3)
    return x.reshape(b, c_out, h * r, w * r)


def _requant(acc: np.ndarray, layer: IntLayer) -> np.ndarray:
    v = np.maximum(acc + layer.bias.reshape(1, -1, 1, 1), 0)
    v = (v * layer.mult.reshape(1, -1, 1, 1) + (1 << (layer.shift - 1) if layer.shift else 0)) >> layer.shift
    return np.minimum(v, ACT_MAX)


@dataclass(frozen=True)
class IntegerHyperSynthesis:
    """Parameters of the integer h_s and the normative forward pass."""

    layers: tuple[IntLayer, IntLayer, IntLayer]
    thresholds: np.ndarray  # int64 (M, n_thresholds), non-decreasing along axis 1

    def __post_init__(self) -> None:
        t = np.asarray(self.thresholds)
        if t.ndim != 2 or t.shape[0] != self.layers[2].weight.shape[0]:
            raise ValueError(f"thresholds must be (M={self.layers[2].weight.shape[0]}, n), got {t.shape}")
        if t.shape[1] and np.any(np.diff(t, axis=1) < 0):
            raise ValueError("thresholds must be non-decreasing along each channel")

    @property
    def nz(self) -> int:
        return int(self.layers[0].weight.shape[1])

    @property
    def m(self) -> int:
        return int(self.layers[2].weight.shape[0])

    def activations(self, z_hat: np.ndarray) -> np.ndarray:
        """z_hat (B, Nz, h, w) integers -> last-layer accumulator v (B, M, 4h, 4w) int64."""
        z = np.asarray(z_hat)
        if z.ndim != 4 or z.shape[1] != self.nz:
            raise ValueError(f"z_hat must be (B, {self.nz}, h, w), got {z.shape}")
        if not np.issubdtype(z.dtype, np.integer):
            raise TypeError(f"z_hat must be an integer array, got {z.dtype}")
        x = np.clip(z.astype(np.int64), ZHAT_MIN, ZHAT_MAX)
        for layer in self.layers[:2]:
            x = depth_to_space_crd(_requant(_conv3x3_int(x, layer.weight), layer), 2)
        last = self.layers[2]
        return _conv3x3_int(x, last.weight) + last.bias.reshape(1, -1, 1, 1)

    def indexes(self, z_hat: np.ndarray) -> np.ndarray:
        """z_hat (B, Nz, h, w) -> scale-table indexes (B, M, 4h, 4w) int32."""
        v = self.activations(z_hat)
        t = self.thresholds
        idx = np.empty(v.shape, dtype=np.int32)
        for c in range(v.shape[1]):  # count of thresholds <= v (thresholds are non-decreasing per channel)
            idx[:, c] = np.searchsorted(t[c], v[:, c], side="right")
        return idx

    # --- serialisation --------------------------------------------------------------------------
    def to_npz_bytes(self, thresholds: bool = True) -> bytes:
        """The parameters as ``.npz`` bytes; ``thresholds=False`` leaves the rate point's thresholds out (a
        format-2 package shares the layers across its family and keeps the thresholds in ``rate.npz``)."""
        arrays = {"thresholds": self.thresholds.astype(np.int64)} if thresholds else {}
        for i, layer in enumerate(self.layers):
            arrays[f"w{i}"] = layer.weight.astype(np.int8)
            arrays[f"b{i}"] = layer.bias.astype(np.int64)
            arrays[f"shift{i}"] = np.array(layer.shift, dtype=np.int64)
            if layer.mult is not None:
                arrays[f"m{i}"] = layer.mult.astype(np.int64)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_npz_bytes(cls, data: bytes, thresholds: np.ndarray | None = None) -> "IntegerHyperSynthesis":
        """Parameters from :meth:`to_npz_bytes`; ``thresholds`` when the bytes hold the layers only (given
        thresholds take precedence over stored ones)."""
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            if thresholds is None:
                if "thresholds" not in f:
                    raise ValueError("the integer h_s parameters hold no thresholds and none were given")
                thresholds = f["thresholds"]
            layers = []
            for i in range(3):
                layers.append(IntLayer(weight=f[f"w{i}"].astype(np.int64), bias=f[f"b{i}"].astype(np.int64),
                                       mult=f[f"m{i}"].astype(np.int64) if f"m{i}" in f else None,
                                       shift=int(f[f"shift{i}"])))
            return cls(tuple(layers), np.asarray(thresholds).astype(np.int64))

    @property
    def content_hash(self) -> str:
        h = hashlib.sha256()
        for layer in self.layers:
            for a in (layer.weight, layer.bias, layer.mult if layer.mult is not None else np.zeros(0)):
                h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
            h.update(int(layer.shift).to_bytes(1, "big"))
        h.update(np.ascontiguousarray(self.thresholds, dtype=np.int64).tobytes())
        return h.hexdigest()

    @classmethod
    def random(cls, nz: int, n: int, m: int, n_thresholds: int = 63, seed: int = 0) -> "IntegerHyperSynthesis":
        """A random but well-formed network for tests (realistic magnitudes)."""
        rng = np.random.default_rng(seed)

        def layer(cin: int, cout: int, last: bool = False) -> IntLayer:
            w = rng.integers(-127, 128, size=(cout, cin, 3, 3))
            b = rng.integers(-5000, 5000, size=cout)
            if last:
                return IntLayer(w, b, None, 0)
            return IntLayer(w, b, rng.integers(1, 1 << 14, size=cout), 22)

        t = np.sort(rng.integers(-20000, 200000, size=(m, n_thresholds)), axis=1)
        return cls((layer(nz, 4 * n), layer(n, 4 * n), layer(n, m, last=True)), t)
