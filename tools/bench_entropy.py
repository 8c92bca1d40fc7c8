"""Benchmark the flight rANS coder against constriction's ANS coder, measured in the same run.

    python tools/bench_entropy.py [--reps 5] [--seed 0]

Single-thread figures (numba threads = 1), median of ``--reps`` runs:

(a) 4M symbols y = round(N(0, s)), s log-uniform in [0.2, 20], index = nearest default scale table entry
    (in log space);
(b) 1M low-rate symbols, s log-uniform in [0.11, 2].

The anchor is ``constriction.stream.stack.AnsCoder`` with ``QuantizedGaussian`` (per-symbol mean 0, std = the
table scale of the symbol's index), i.e. the same probability model computed on the fly. Printed ratios are
ours / constriction throughput. Then the batch form (1024 chunks x 4096 symbols) with 1 and 2 threads.
Numbers depend on the machine; only the ratios in one run are comparable.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", str(min(2, os.cpu_count() or 1)))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from onboard.entropy import (  # noqa: E402
    decode_batch,
    decode_with_indexes,
    default_scale_table,
    encode_batch,
    encode_with_indexes,
    gaussian_tables,
    ideal_bits,
)


def make_data(n: int, s_lo: float, s_hi: float, rng: np.random.Generator):
    scales = default_scale_table()
    s = np.exp(rng.uniform(np.log(s_lo), np.log(s_hi), n))
    y = np.round(rng.normal(0.0, s)).astype(np.int32)
    return y, nearest_scale_index(s, scales)


def nearest_scale_index(s: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Index of the nearest scale table entry in log space (ties to the lower entry)."""
    ls = np.log(scales)
    mids = 0.5 * (ls[1:] + ls[:-1])
    return np.searchsorted(mids, np.log(s), side="left").astype(np.int32)


def median_time(fn, reps: int) -> float:
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def bench_case(name: str, y, idx, tables, reps: int) -> None:
    import constriction

    n = y.size
    scales = default_scale_table()
    data = encode_with_indexes(y, idx, tables)
    assert np.array_equal(decode_with_indexes(data, idx, tables), y)
    t_enc = median_time(lambda: encode_with_indexes(y, idx, tables), reps)
    t_dec = median_time(lambda: decode_with_indexes(data, idx, tables), reps)
    ib = ideal_bits(y, idx, tables)
    bits = 8 * len(data)

    model = constriction.stream.model.QuantizedGaussian(int(y.min()) - 1, int(y.max()) + 1)
    means = np.zeros(n, dtype=np.float64)
    stds = scales[idx].astype(np.float64)

    def c_enc():
        c = constriction.stream.stack.AnsCoder()
        c.encode_reverse(y, model, means, stds)
        return c.get_compressed()

    comp = c_enc()

    def c_dec():
        return constriction.stream.stack.AnsCoder(comp).decode(model, means, stds)

    assert np.array_equal(c_dec(), y)
    tc_enc = median_time(c_enc, reps)
    tc_dec = median_time(c_dec, reps)
    cbits = 32 * comp.size

    ms = lambda t: n / t / 1e6  # noqa: E731
    print(f"\n({name}) n={n:,}  ideal {ib / n:.4f} bits/sym")
    print(f"  {'coder':<14}{'enc Msym/s':>12}{'dec Msym/s':>12}{'bits/sym':>10}{'vs ideal':>10}")
    print(f"  {'ours (rANS)':<14}{ms(t_enc):>12.1f}{ms(t_dec):>12.1f}{bits / n:>10.4f}{100 * (bits / ib - 1):>9.3f}%")
    print(f"  {'constriction':<14}{ms(tc_enc):>12.1f}{ms(tc_dec):>12.1f}{cbits / n:>10.4f}"
          f"{100 * (cbits / ib - 1):>9.3f}%")
    print(f"  ratio ours/constriction: encode {tc_enc / t_enc:.2f}x  decode {tc_dec / t_dec:.2f}x")


def bench_batch(tables, reps: int, rng: np.random.Generator, n_chunks: int = 1024, chunk: int = 4096) -> None:
    y, idx = make_data(n_chunks * chunk, 0.2, 20.0, rng)
    ys = list(y.reshape(n_chunks, chunk))
    ids = list(idx.reshape(n_chunks, chunk))
    n = y.size
    print(f"\n(batch) {n_chunks} chunks x {chunk} symbols, s log-uniform [0.2, 20]")
    print(f"  {'threads':<10}{'enc Msym/s':>12}{'dec Msym/s':>12}")
    base = None
    max_threads = numba.config.NUMBA_NUM_THREADS
    for th in (1, 2):
        if th > max_threads:
            print(f"  {th:<10}(skipped: NUMBA_NUM_THREADS={max_threads})")
            continue
        numba.set_num_threads(th)
        datas = encode_batch(ys, ids, tables)
        out = decode_batch(datas, ids, tables)
        assert all(np.array_equal(a, b) for a, b in zip(out, ys))
        te = median_time(lambda: encode_batch(ys, ids, tables), reps)
        td = median_time(lambda: decode_batch(datas, ids, tables), reps)
        if base is None:
            base = (te, td)
        print(f"  {th:<10}{n / te / 1e6:>12.1f}{n / td / 1e6:>12.1f}"
              f"   scaling enc {base[0] / te:.2f}x dec {base[1] / td:.2f}x")
    numba.set_num_threads(1)
    # per-call fixed cost
    e1 = [np.zeros(1, np.int32)]
    d1 = encode_batch(e1, e1, tables)
    tb = median_time(lambda: encode_batch(e1, e1, tables), 50)
    tdb = median_time(lambda: decode_batch(d1, e1, tables), 50)
    ts = median_time(lambda: encode_with_indexes(e1[0], e1[0], tables), 50)
    tds = median_time(lambda: decode_with_indexes(d1[0], e1[0], tables), 50)
    print(f"  fixed cost per call (1 symbol): encode {ts * 1e6:.1f} us, decode {tds * 1e6:.1f} us; "
          f"batch of 1 chunk: encode {tb * 1e6:.1f} us, decode {tdb * 1e6:.1f} us")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    import constriction

    rng = np.random.default_rng(args.seed)
    tables = gaussian_tables(default_scale_table())
    from importlib.metadata import version

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"numba {numba.__version__}, constriction {version('constriction')}, numpy {np.__version__}; "
          f"tables {tables.content_hash[:16]} (precision {tables.precision}); median of {args.reps}; "
          f"{os.cpu_count()} CPUs, load average {load:.2f} at start")
    numba.set_num_threads(1)
    # warm up (compile or load the cache)
    w = np.zeros(16, np.int32)
    decode_with_indexes(encode_with_indexes(w, w, tables), w, tables)
    decode_batch(encode_batch([w], [w], tables), [w], tables)

    y, idx = make_data(4_000_000, 0.2, 20.0, rng)
    bench_case("a: 4M symbols, s in [0.2, 20], single thread", y, idx, tables, args.reps)
    y, idx = make_data(1_000_000, 0.11, 2.0, rng)
    bench_case("b: 1M low-rate symbols, s in [0.11, 2], single thread", y, idx, tables, args.reps)
    bench_batch(tables, args.reps, rng)


if __name__ == "__main__":
    main()
