"""The few array operations the ridge solver needs, on numpy or torch (CPU or CUDA).

Arithmetic, ``@``, ``.T`` and indexing are shared by numpy arrays and torch
tensors; this module wraps only what differs between them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

BACKENDS = ("auto", "numpy", "torch", "torch_cuda")


def cuda_available() -> bool:
    """Whether torch sees a CUDA device."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def resolve_backend(name: str) -> str:
    """``auto`` -> ``torch_cuda`` when a GPU is visible, else ``numpy``; other names are checked."""
    if name not in BACKENDS:
        raise ValueError(f"unknown encoding backend {name!r}; allowed: {', '.join(BACKENDS)}")
    if name == "auto":
        return "torch_cuda" if cuda_available() else "numpy"
    if name == "torch_cuda" and not cuda_available():
        raise RuntimeError("encoding.backend is torch_cuda but torch sees no CUDA device; use auto, torch or numpy")
    return name


@dataclass(frozen=True)
class ArrayOps:
    """Array creation, conversion and linear algebra for one backend."""

    name: str

    @property
    def is_torch(self) -> bool:
        return self.name.startswith("torch")

    @property
    def device(self) -> str:
        return "cuda" if self.name == "torch_cuda" else "cpu"

    def asarray(self, x: Any, dtype: str = "float32") -> Any:
        """``x`` on this backend's device with the given dtype name."""
        if self.is_torch:
            import torch

            if isinstance(x, np.ndarray) and not x.flags.writeable:
                x = np.array(x)
            return torch.as_tensor(x, dtype=getattr(torch, dtype), device=self.device)
        if _is_tensor(x):
            x = x.detach().cpu().numpy()
        return np.asarray(x, dtype=dtype)

    def cast(self, x: Any, dtype: str) -> Any:
        """Same array in another dtype (same device)."""
        return self.asarray(x, dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        if _is_tensor(x):
            return x.detach().cpu().numpy()
        return np.asarray(x)

    def index(self, idx: np.ndarray) -> Any:
        """Integer index array usable on this backend's arrays."""
        if self.is_torch:
            import torch

            return torch.as_tensor(np.asarray(idx, dtype=np.int64), device=self.device)
        return np.asarray(idx, dtype=np.int64)

    def map_independent(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``[fn(item) for item in items]``, on numpy in threads when cores would otherwise idle.

        LAPACK's symmetric eigensolver uses several cores poorly at the sizes of a
        fold (a few thousand rows), so independent decompositions run side by side:
        as many threads as the BLAS library may use cores (``OMP_NUM_THREADS`` and the
        CPU affinity bound it), BLAS single-threaded within each; items left over after
        the last full round run one at a time with every BLAS thread. Results are the same
        as in sequence up to the rounding of a different BLAS thread count.
        """
        workers = min(len(items), _cpu_budget()) if self.name == "numpy" else 1
        if workers <= 1:
            return [fn(item) for item in items]
        from threadpoolctl import threadpool_limits

        side_by_side = len(items) - len(items) % workers  # the rest runs alone, with every BLAS thread
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
            out = list(pool.map(fn, items[:side_by_side]))
        return out + [fn(item) for item in items[side_by_side:]]

    def eigh(self, a: Any) -> tuple[Any, Any]:
        """Eigenvalues (ascending) and eigenvectors of a symmetric matrix."""
        if self.is_torch:
            import torch

            return torch.linalg.eigh(a)
        return np.linalg.eigh(a)

    def solve_spd(self, a: Any, b: Any) -> Any:
        """``a^-1 b`` for a symmetric positive definite ``a`` (Cholesky)."""
        if self.is_torch:
            import torch

            return torch.cholesky_solve(b, torch.linalg.cholesky(a))
        from scipy.linalg import cho_factor, cho_solve

        return cho_solve(cho_factor(a, lower=True, check_finite=False), b, check_finite=False)

    def qr_r(self, a: Any) -> Any:
        """The triangular factor R of a reduced QR decomposition (``||A v|| == ||R v||``)."""
        if self.is_torch:
            import torch

            return torch.linalg.qr(a, mode="r")[1]
        return np.linalg.qr(a, mode="r")

    def sqrt(self, x: Any) -> Any:
        if self.is_torch:
            import torch

            return torch.sqrt(x)
        return np.sqrt(x)

    def zeros(self, shape: tuple[int, ...], dtype: str = "float32") -> Any:
        if self.is_torch:
            import torch

            return torch.zeros(shape, dtype=getattr(torch, dtype), device=self.device)
        return np.zeros(shape, dtype=dtype)


def _cpu_budget() -> int:
    """Cores the BLAS library may use here: its thread setting, bounded by the CPU affinity."""
    from threadpoolctl import threadpool_info

    blas = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, max(blas) if blas else 1))


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def array_ops(name: str) -> ArrayOps:
    """Operations of backend ``name`` (``auto`` resolved first)."""
    return ArrayOps(resolve_backend(name))
