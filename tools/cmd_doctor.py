"""``satcomp doctor``: versions of the runtime stack, numba threading layer, ORT providers, GPU visibility."""
from __future__ import annotations

import argparse
import importlib
import platform
import shutil
import subprocess


def _version(name: str) -> str:
    try:
        mod = importlib.import_module(name)
    except ImportError:
        return "not installed"
    return getattr(mod, "__version__", "unknown")


def doctor_report() -> dict[str, str]:
    """Collect the facts ``satcomp doctor`` prints, as a name -> value mapping."""
    report = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("numpy", "numba", "onnxruntime", "onnx", "h5py", "torch", "dask", "sgp4"):
        report[name] = _version(name)
    try:
        import numba
        import numpy as np

        @numba.njit(parallel=True, cache=False)
        def _touch(a):  # pragma: no cover - trivial kernel to initialise the threading layer
            s = 0.0
            for i in numba.prange(a.shape[0]):
                s += a[i]
            return s

        _touch(np.ones(4))
        report["numba threading layer"] = numba.threading_layer()
        report["numba threads"] = str(numba.get_num_threads())
    except Exception as exc:  # noqa: BLE001 - doctor reports, never fails
        report["numba threading layer"] = f"unavailable ({exc})"
    try:
        import onnxruntime as ort
        report["onnxruntime providers"] = ", ".join(ort.get_available_providers())
    except ImportError:
        report["onnxruntime providers"] = "onnxruntime not installed"
    gpu = "no"
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
            gpu = out.stdout.strip() or "nvidia-smi found, no device listed"
        except (OSError, subprocess.SubprocessError):
            gpu = "nvidia-smi failed"
    report["gpu visible"] = gpu
    return report


def run(args: argparse.Namespace) -> int:
    for key, value in doctor_report().items():
        print(f"{key:24s} {value}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="print versions, threading layer, ONNX Runtime providers, GPU")
    p.set_defaults(func=run)
