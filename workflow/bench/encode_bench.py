"""Encoding benchmark: the project's RidgeEncoder against himalaya's solvers, same data, same run.

Synthetic data at the studies' shapes (scaled down where a 2-core, 24 GiB
machine needs it; the scale is printed and stored) and at the demo's. Features
are correlated (a shared low-rank part, as in real model features), targets mix
a linear signal of varying strength with noise; rows are split into runs for
grouped cross-validation (5 folds) and a held-out test set.

Per shape, each method fits the training rows and predicts the test rows:

* ``brainalign``: :class:`brainalign.encoding.ridge_encoder.RidgeEncoder` (form chosen from the shape);
* himalaya ``RidgeCV`` (the primal form the workflow used before the engine existed),
  ``KernelRidgeCV`` (linear kernel), and for banded shapes ``BandedRidgeCV`` and
  ``MultipleKernelRidgeCV`` (random search, same band-weight samples).

Reported: wall time, ratio to the fastest himalaya method, the share of targets
whose chosen alpha equals the reference's, and the largest difference in test r.
A multi-layer shape fits all layers of a store. Methods are timed layer by
layer, interleaved, so that changes in machine load affect them alike; small
shapes report the best of five runs.

    python workflow/bench/encode_bench.py                        # every CPU shape
    python workflow/bench/encode_bench.py --shapes nsd-full --backend torch_cuda --skip RidgeCV
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brainalign.encoding.cv_folds import group_folds
from brainalign.encoding.ridge_encoder import RidgeEncoder, Standardizer
from brainalign.metrics import columnwise_pearson

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Shape:
    """One benchmark case: sizes, alpha grid, layers, bands, and how it relates to a study."""

    name: str
    n_train: int
    n_features: int
    n_targets: int
    n_alphas: int
    study: str
    n_layers: int = 1
    bands: tuple[int, ...] = ()
    n_test: int = 300
    n_runs: int = 10
    scale: str = "full"
    alpha_exps: tuple[float, float] = (-1.0, 6.0)
    n_iter: int = 20


SHAPES = {s.name: s for s in [
    Shape("demo-images", 240, 192, 200, 25, "demo (images, vit-tiny layer)", alpha_exps=(-1, 5)),
    Shape("custom-minilm", 840, 1920, 200, 20, "custom time series: MiniLM x 5 delays (features > samples)",
          alpha_exps=(1, 4)),
    Shape("nsd-scaled", 2250, 1024, 2000, 11, "NSD ~9,000 x 4,096 x 15,000, alphas logspace(1,4)",
          scale="samples, features / 4; voxels / 7.5", alpha_exps=(1, 4)),
    Shape("movie10-parcels", 2750, 960, 1000, 20, "Movie10 ~11,000 TRs x 768 x 5 delays x 1,000 parcels",
          scale="TRs and features / 4", alpha_exps=(-1, 3)),
    Shape("multilayer-13", 1600, 1920, 400, 20, "a 13-layer store, MiniLM-sized x 5 delays", n_layers=13,
          alpha_exps=(1, 4)),
    Shape("partition-banded", 840, 2560, 200, 20, "variance partitioning: MiniLM x 5 delays + a 640-column space",
          bands=(1920, 640), alpha_exps=(1, 4)),
    Shape("nsd-full", 9000, 4096, 15000, 11, "NSD at full size (GPU)", alpha_exps=(1, 4), n_test=1000),
]}
CPU_SHAPES = ["demo-images", "custom-minilm", "nsd-scaled", "movie10-parcels", "multilayer-13", "partition-banded"]


@dataclass
class Data:
    x: list[np.ndarray]  # one (n x p) design per layer
    y: np.ndarray
    groups: np.ndarray
    n_train: int
    alphas: np.ndarray
    bands: list[slice] = field(default_factory=list)


def make_data(shape: Shape, seed: int = 0) -> Data:
    """Correlated features, targets with a graded linear signal, runs as CV groups."""
    rng = np.random.default_rng(seed)
    n = shape.n_train + shape.n_test
    p = shape.n_features
    rank = max(4, p // 16)
    xs = []
    for _ in range(shape.n_layers):
        shared = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, p)) / np.sqrt(rank)
        xs.append((shared + rng.standard_normal((n, p))).astype(np.float32))
    w = rng.standard_normal((p, shape.n_targets)) * rng.uniform(0.0, 1.0, shape.n_targets)
    y = xs[-1] @ w / np.sqrt(p) + rng.standard_normal((n, shape.n_targets)) * 2.0
    groups = np.repeat([f"run-{i}" for i in range(1, shape.n_runs + 1)], int(np.ceil(shape.n_train / shape.n_runs)))
    edges = np.cumsum((0,) + shape.bands)
    bands = [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
    return Data(xs, y.astype(np.float32), groups[: shape.n_train], shape.n_train,
                np.logspace(*shape.alpha_exps, shape.n_alphas), bands)


def run_ours(data: Data, layer: int, backend: str, n_iter: int) -> tuple[np.ndarray, np.ndarray, str]:
    tr = slice(0, data.n_train)
    x = data.x[layer]
    enc = RidgeEncoder(alphas=data.alphas, backend=backend, bands=data.bands or None, n_iter=n_iter)
    enc.fit(x[tr], data.y[tr], data.groups)
    return enc.predict(x[data.n_train:]), enc.alpha_, enc.form_


def himalaya_model(method: str, data: Data, n_iter: int):
    from himalaya.kernel_ridge import ColumnKernelizer, Kernelizer, KernelRidgeCV, MultipleKernelRidgeCV
    from himalaya.ridge import BandedRidgeCV, ColumnTransformerNoStack, RidgeCV
    from sklearn.pipeline import make_pipeline

    cv = group_folds(data.groups, 5)
    big = {"n_targets_batch": 2000}
    if method == "RidgeCV":
        return RidgeCV(alphas=data.alphas, cv=cv, solver_params=big)
    if method == "KernelRidgeCV":
        return KernelRidgeCV(alphas=data.alphas, cv=cv, solver_params=big)
    search = dict(alphas=data.alphas, n_iter=n_iter, progress_bar=False, **big)
    if method == "BandedRidgeCV":
        ct = ColumnTransformerNoStack([(f"b{i}", "passthrough", b) for i, b in enumerate(data.bands)])
        return make_pipeline(ct, BandedRidgeCV(groups="input", cv=cv, solver_params=search, random_state=0))
    ck = ColumnKernelizer([(f"b{i}", Kernelizer(kernel="linear"), b) for i, b in enumerate(data.bands)])
    return make_pipeline(ck, MultipleKernelRidgeCV(kernels="precomputed", solver="random_search", cv=cv,
                                                   solver_params=search, random_state=0))


def run_himalaya(method: str, data: Data, layer: int, backend: str, n_iter: int) -> tuple[np.ndarray, np.ndarray]:
    from himalaya.backend import set_backend

    hb = set_backend(backend, on_error="raise")
    tr = slice(0, data.n_train)
    ys = Standardizer.fit(data.y[tr])
    x = data.x[layer]
    xs = Standardizer.fit(x[tr])
    model = himalaya_model(method, data, n_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(xs.transform(x[tr]), ys.transform(data.y[tr]))
    est = model[-1] if hasattr(model, "steps") else model
    pred = np.asarray(hb.to_numpy(model.predict(xs.transform(x[data.n_train:])))) * ys.std + ys.mean
    return pred, np.asarray(hb.to_numpy(est.best_alphas_))


def warm_up(backend: str) -> None:
    """Import and run every method once on a tiny problem so that no timing includes start-up costs."""
    tiny = make_data(Shape("warm-up", 60, 12, 4, 3, "", bands=(8, 4), n_test=10, n_iter=2))
    run_ours(tiny, 0, backend, 2)
    for method in ("BandedRidgeCV", "MultipleKernelRidgeCV"):
        run_himalaya(method, tiny, 0, backend, 2)
    tiny.bands = []
    run_ours(tiny, 0, backend, 2)
    for method in ("RidgeCV", "KernelRidgeCV"):
        run_himalaya(method, tiny, 0, backend, 2)


def bench_shape(shape: Shape, backend: str, skip: set[str]) -> list[dict]:
    """Time every method layer by layer, interleaved, so that load changes hit all methods alike."""
    data = make_data(shape)
    y_test = data.y[data.n_train:]
    methods = ["BandedRidgeCV", "MultipleKernelRidgeCV"] if data.bands else ["RidgeCV", "KernelRidgeCV"]
    methods = [m for m in methods if m not in skip]
    seconds = {m: 0.0 for m in ["ours", *methods]}
    same = {m: [] for m in methods}
    dr = {m: 0.0 for m in methods}
    form = ""
    repeats = 5 if shape.n_train * shape.n_features * shape.n_targets < 5e7 else 1  # small: best of 5
    for layer in range(shape.n_layers):
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            pred, alpha, form = run_ours(data, layer, backend, shape.n_iter)
            best = min(best, time.perf_counter() - t0)
        seconds["ours"] += best
        r_ours = columnwise_pearson(pred, y_test)
        for method in methods:
            best = np.inf
            for _ in range(repeats):
                t0 = time.perf_counter()
                ref_pred, ref_alpha = run_himalaya(method, data, layer, backend, shape.n_iter)
                best = min(best, time.perf_counter() - t0)
            seconds[method] += best
            same[method].append(float(np.isclose(alpha, ref_alpha, rtol=1e-4).mean()))
            dr[method] = max(dr[method], float(np.nanmax(np.abs(columnwise_pearson(ref_pred, y_test) - r_ours))))
    rows = [{"shape": shape.name, "method": m, "seconds": seconds[m], "same_alpha": float(np.mean(same[m])),
             "max_abs_dr": dr[m]} for m in methods]
    fastest = min(methods, key=seconds.get) if methods else None
    rows.append({"shape": shape.name, "method": f"brainalign ({form})", "seconds": seconds["ours"],
                 "speedup_vs_fastest_himalaya": seconds[fastest] / seconds["ours"] if fastest else None,
                 "fastest_himalaya": fastest,
                 **({"speedup_vs_RidgeCV": seconds["RidgeCV"] / seconds["ours"]} if "RidgeCV" in seconds else {})})
    for row in rows:
        row.update(n_train=shape.n_train, n_features=shape.n_features, n_targets=shape.n_targets,
                   n_alphas=shape.n_alphas, n_layers=shape.n_layers, study=shape.study, scale=shape.scale)
    return rows


def engine_flops(n: int, p: int, t: int, n_alphas: int, folds: int = 5, n_gammas: int = 1) -> float:
    """Floating-point work of one RidgeEncoder fit (cost model of :mod:`brainalign.encoding.ridge_solver`)."""
    n_val, n_tr = n / folds, n - n / folds
    r = min(p, n_tr)
    gram = 2.0 * n * p * min(n, p)
    per_weighting = folds * (10.0 * r**3 + 4.0 * r * n_tr * t + 2.0 * n_alphas * min(n_val, r) * r * t)
    refit = min(n_alphas, 10) * r**3 / 3 + 4.0 * r * r * t
    return gram + n_gammas * per_weighting + refit


#: full-size encoding work of each study: (n samples, features, voxels, alphas, band weightings, fits)
STUDIES = {
    "A movie10_multimodal (fsaverage6)": (9000, 768 * 5, 81924, 10, 1, 12 * 18 * 4),
    "A movie10_multimodal (1,000 parcels)": (9000, 768 * 5, 1000, 10, 1, 12 * 18 * 4),
    "B nsd_mllm (nsdgeneral ~15,000 voxels)": (9000, 4096, 15000, 60, 1, (3 * 10 + 4) * 33 * 4),
    "C movie10_video_audio_mllm (1,000 parcels, banded by delay)": (9000, 4096 * 5, 1000, 20, 20, 8 * 13 * 33 * 4),
    "D friends_vision_language (1,000 parcels, nested 5 x 5)": (20000, 768 * 5, 1000, 20, 1, 6 * 13 * 4 * 5),
}


def projections(rows: list[dict]) -> str:
    """Project each study's encoding time from the measured rate of the largest benchmarked CPU shape."""
    ours = [r for r in rows if r["method"].startswith("brainalign") and r["n_layers"] == 1 and not r["shape"].startswith("partition")]
    if not ours:
        return ""
    ref = max(ours, key=lambda r: engine_flops(r["n_train"], r["n_features"], r["n_targets"], r["n_alphas"]))
    rate = engine_flops(ref["n_train"], ref["n_features"], ref["n_targets"], ref["n_alphas"]) / ref["seconds"]
    lines = [f"Projected from the measured rate of `{ref['shape']}` ({rate / 1e9:.1f} GFLOP/s of the cost model):",
             "", "| study (full size) | fits | hours per fit | CPU hours |", "|---|---|---|---|"]
    for name, (n, p, t, m, g, fits) in STUDIES.items():
        hours = engine_flops(n, p, t, m, n_gammas=g) / rate / 3600
        lines.append(f"| {name} | {fits:,} | {hours:.2f} | {hours * fits:,.0f} |")
    return "\n".join(lines)


def markdown(rows: list[dict]) -> str:
    lines = ["| shape | n x p x targets (layers) | method | seconds | ratio | same alpha | max abs dr |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        size = f"{r['n_train']} x {r['n_features']} x {r['n_targets']}" + (f" ({r['n_layers']})" if r["n_layers"] > 1 else "")
        ratio = f"**{r['speedup_vs_fastest_himalaya']:.1f}x** vs {r['fastest_himalaya']}" if r.get("fastest_himalaya") else ""
        if r.get("speedup_vs_RidgeCV") and r["fastest_himalaya"] != "RidgeCV":
            ratio += f"; {r['speedup_vs_RidgeCV']:.1f}x vs RidgeCV"
        same = f"{100 * r['same_alpha']:.1f} %" if "same_alpha" in r else ""
        dr = f"{r['max_abs_dr']:.1e}" if "max_abs_dr" in r else ""
        lines.append(f"| {r['shape']} | {size} | {r['method']} | {r['seconds']:.2f} | {ratio} | {same} | {dr} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=CPU_SHAPES, choices=sorted(SHAPES))
    parser.add_argument("--backend", default="numpy", choices=["numpy", "torch", "torch_cuda"])
    parser.add_argument("--skip", nargs="*", default=[], help="himalaya methods to leave out")
    parser.add_argument("--report", default=None, help="JSON report path (default: reports/encode_bench_<backend>.json)")
    args = parser.parse_args()
    warm_up(args.backend)
    rows = []
    for name in args.shapes:
        rows += bench_shape(SHAPES[name], args.backend, set(args.skip))
        print(markdown([r for r in rows if r["shape"] == name]).split("\n", 2)[-1], flush=True)
    print(markdown(rows))
    print(projections(rows))
    report = Path(args.report) if args.report else HERE / "reports" / f"encode_bench_{args.backend}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    meta = {"backend": args.backend, "machine": platform.processor() or platform.machine(),
            "python": platform.python_version()}
    report.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"report: {report}")


if __name__ == "__main__":
    main()
