"""Rate-distortion quantisation of the latent: the encoder's choice of which integer to send for each value.

The decoder reads whatever integers arrive, so this is the encoder's business alone (like the dead zone of
:func:`onboard.encoder.quantise_latent`, which it replaces when a package carries distortion weights). For each
gained latent value ``y`` with scale index ``i`` (from the normative integer hyper-synthesis, so the indexes are
those the ground will use) the candidates are ``q0 = rint(y)`` and, when ``q0 != 0``, ``q1 = q0 - sign(q0)``, one
step towards zero. The encoder sends the one with the lower cost::

    bits(q | i) + mu_c * (y - q) ** 2

``bits``: the exact code length under the package's frozen y tables (:func:`onboard.entropy.symbol_bits`,
escapes included). ``mu_c = weight * lambda * 255**2 / D * d_c``: the package's training exchange rate between
bits and squared error (``R + lambda * 255**2 * MSE``, with ``D`` the bands the MSE averaged over for one bit
count: the bands of an image package, 1 for a clustered package whose rate is per sample) times ``d_c``, the
squared error in the [0, 1]-normalised output that one step of gained channel ``c`` causes
(:attr:`onboard.package.ModelPackage.distortion_per_step`, measured at export through ``g_s``). ``weight``
corrects for what the per-value model leaves out (the error of neighbouring values partly cancels in ``g_s``,
and ``d_c`` is an average over positions); it was chosen on the development images (``DEFAULT_RD_WEIGHT``).

Example:
    >>> import numpy as np
    >>> from onboard.entropy import gaussian_tables, default_scale_table
    >>> tables = gaussian_tables(default_scale_table())
    >>> y = np.array([[[0.6, -1.55, 3.2]]], dtype=np.float32)
    >>> idx = np.full(y.shape, 5, dtype=np.int32)          # a narrow scale (0.2): large values are dear
    >>> rd_quantise(y, idx, tables, mu=np.array([0.5])).tolist()     # bits are worth more than error
    [[[0, -1, 2]]]
    >>> rd_quantise(y, idx, tables, mu=np.array([50.0])).tolist()    # error is worth more than bits
    [[[1, -1, 3]]]
"""
from __future__ import annotations

import numpy as np
from numba import njit

DEFAULT_RD_WEIGHT = 2.5
"""Multiplier of the package's bits-per-squared-error exchange rate (module docstring). Swept on the
development data, int8, by re-encoding the learned points at each weight against the fixed anchor points of one
``satcomp rd`` run with the dead zone (BD-rate on the averaged curves): hp-rgb on the 26 RGB dev images against
JPEG 2000, weights 0 (dead zone 0.05) / 1 / 1.5 / 2 / 2.5 / 3 / 4 / 8: -6.41 / -6.90 / -8.50 / -8.97 / -9.06 /
-9.02 / -8.74 / -7.70 %; cc-klt on the 4 dev cubes against KLT + JPEG 2000, 0 / 1 / 1.5 / 2 / 2.5 / 3 / 4:
+28.73 / +26.94 / +26.02 / +25.80 / +25.89 / +26.08 / +26.63 %. A ``satcomp rd`` run places its anchor points
by the learned rates, so its own figures differ a little: at 2.5, hp-rgb -8.17 % (averaged curves; -8.40 % mean
per image), cc-klt +24.31 % (+24.82 % per cube). With the ground decoders since fine-tuned on these latents
(``satcomp finetune-decoder``) the same weights give -8.78 % and +23.90 %; re-checked for hp-rgb there, 2 / 2.5
/ 3.5 gave -8.85 / -8.78 / -8.41 %, and a third candidate (0) changed nothing."""


def check_rd_weight(weight: float) -> float:
    """``weight`` as a float if it is finite and >= 0 (0: no RD choice), else a ValueError that says so."""
    w = float(weight)
    if not np.isfinite(w) or w < 0:
        raise ValueError(f"rd_weight must be a finite number >= 0, got {weight}")
    return w


def rd_multipliers(package, weight: float = DEFAULT_RD_WEIGHT) -> np.ndarray | None:
    """Per-channel ``mu_c`` (float64, (M,)) of ``package`` at ``weight``, or None when the package has no
    distortion weights or no lambda (then the encoder rounds with the dead zone)."""
    d = getattr(package, "distortion_per_step", None)
    lam = package.lmbda
    if d is None or not lam or lam <= 0:
        return None
    per_bits = 1 if package.cluster_bands is not None else package.bands
    return check_rd_weight(weight) * float(lam) * 255.0 ** 2 / per_bits * np.asarray(d, dtype=np.float64)


def _check(y: np.ndarray, indexes: np.ndarray, mu: np.ndarray) -> None:
    if np.shape(indexes) != y.shape:
        raise ValueError(f"indexes shape {np.shape(indexes)} differs from latent shape {y.shape}")
    if y.ndim < 3 or mu.shape != (y.shape[-3],):
        raise ValueError(f"mu must have one value per latent channel ({y.shape[-3] if y.ndim >= 3 else '?'}), "
                         f"got shape {mu.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("latent contains non-finite values")
    if not np.all(np.isfinite(mu)) or np.any(mu < 0):
        raise ValueError("mu must be finite and >= 0")


def rd_quantise(y: np.ndarray, indexes: np.ndarray, tables, mu: np.ndarray) -> np.ndarray:
    """The RD choice (module docstring) for gained latents ``y`` (..., M, h, w) float, with their scale
    ``indexes`` (same shape, int32) and channel multipliers ``mu`` (M,) -> int32 of ``y``'s shape.

    Every value is ``rint(y)`` or one step from it towards zero; it never crosses zero and never costs more
    (in ``bits + mu * err**2``) than ``rint(y)``. A numba kernel (one pass, no temporaries: about the cost of
    ``g_a``'s last layer); :func:`rd_quantise_reference` is the same choice in numpy, its test oracle.
    """
    from onboard.entropy._kernels import ESC_LEN_BITS
    from onboard.entropy.coder import _bad_index, _check_tables, _prepared, _raise_bad_index

    y = np.asarray(y)
    mu = np.asarray(mu, dtype=np.float64)
    _check(y, indexes, mu)
    _check_tables(tables)
    idx = np.ascontiguousarray(indexes, dtype=np.int32)
    bad = _bad_index(idx.reshape(-1), tables.n_tables)
    if bad >= 0:  # the coder's own typed error (IndexOutOfRangeError)
        _raise_bad_index(idx.reshape(-1), bad, tables.n_tables)
    cdfs, lengths, offsets, _, _, precision = _prepared(tables)  # the coder's cached kernel arguments
    m, h, w = y.shape[-3:]
    y4 = np.ascontiguousarray(y, dtype=np.float64).reshape(-1, m, h, w)
    out = _choose(y4, idx.reshape(y4.shape), mu, cdfs, offsets, lengths, precision, ESC_LEN_BITS)
    return out.reshape(y.shape)


def rd_quantise_reference(y: np.ndarray, indexes: np.ndarray, tables, mu: np.ndarray) -> np.ndarray:
    """:func:`rd_quantise` in numpy from :func:`onboard.entropy.symbol_bits` (slower; the tests' oracle)."""
    from onboard.entropy import symbol_bits

    y = np.asarray(y)
    mu = np.asarray(mu, dtype=np.float64)
    _check(y, indexes, mu)
    q0 = np.rint(y).astype(np.int32)
    q1 = q0 - np.sign(q0).astype(np.int32)
    m = mu.reshape((-1, 1, 1))
    yd = y.astype(np.float64)
    j0 = symbol_bits(q0, indexes, tables) + m * (yd - q0) ** 2
    j1 = symbol_bits(q1, indexes, tables) + m * (yd - q1) ** 2
    return np.where((q0 != 0) & (j1 < j0), q1, q0).astype(np.int32)


@njit(cache=True, inline="always")
def _bits(q, t, cdfs, offsets, lengths, precision, esc_len_bits):
    n_real = lengths[t] - 2
    v = q - offsets[t]
    if 0 <= v < n_real:
        return precision - np.log2(np.float64(cdfs[t, v + 1] - cdfs[t, v]))
    b = precision - np.log2(np.float64(cdfs[t, n_real + 1] - cdfs[t, n_real])) + esc_len_bits
    u = -2 * v - 1 if v < 0 else 2 * (v - n_real)
    w = u + 1
    nb = -1
    while w > 0:  # nb = bit length of w minus one
        w >>= 1
        nb += 1
    return b + nb


@njit(cache=True)
def _choose(y, idx, mu, cdfs, offsets, lengths, precision, esc_len_bits):
    n, m, h, w = y.shape
    out = np.empty((n, m, h, w), dtype=np.int32)
    for b in range(n):
        for c in range(m):
            mc = mu[c]
            for i in range(h):
                for j in range(w):
                    v = y[b, c, i, j]
                    q0 = np.int64(np.rint(v))
                    if q0 == 0:
                        out[b, c, i, j] = 0
                        continue
                    q1 = q0 - 1 if q0 > 0 else q0 + 1
                    t = idx[b, c, i, j]
                    e0 = v - q0
                    e1 = v - q1
                    j0 = _bits(q0, t, cdfs, offsets, lengths, precision, esc_len_bits) + mc * e0 * e0
                    j1 = _bits(q1, t, cdfs, offsets, lengths, precision, esc_len_bits) + mc * e1 * e1
                    out[b, c, i, j] = q1 if j1 < j0 else q0
    return out
