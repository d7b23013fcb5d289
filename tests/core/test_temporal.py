"""Temporal alignment: Lanczos resampling, window averaging, alignment per run, FIR delays."""

from __future__ import annotations

import numpy as np
import pytest

from brainalign.temporal import align_to_trs, fir_delays, lanczos_kernel, lanczos_resample, window_average


def reference_lanczos(data: np.ndarray, old: np.ndarray, new: np.ndarray, window: int = 3) -> np.ndarray:
    """Huth et al.'s ``lanczosinterp2D`` (cutoff = 1 / TR), written out independently."""
    cutoff = 1.0 / np.mean(np.diff(new))
    out = np.zeros((len(new), data.shape[1]))
    for i, t_new in enumerate(new):
        for j, t_old in enumerate(old):
            t = (t_new - t_old) * cutoff
            if t == 0:
                w = 1.0
            elif abs(t) > window:
                w = 0.0
            else:
                w = window * np.sin(np.pi * t) * np.sin(np.pi * t / window) / (np.pi**2 * t**2)
            out[i] += w * data[j]
    return out


def test_lanczos_matches_reference_on_irregular_words():
    rng = np.random.default_rng(0)
    tr = 1.5
    onsets = np.sort(rng.uniform(0, 30, 40))
    values = rng.standard_normal((40, 3))
    trs = np.arange(20) * tr
    np.testing.assert_allclose(lanczos_resample(values, onsets, trs, tr), reference_lanczos(values, onsets, trs),
                               atol=1e-12)


def test_lanczos_keeps_a_constant_signal_on_the_tr_grid():
    tr = 2.0
    trs = np.arange(15) * tr
    out = lanczos_resample(np.full((15, 2), 3.5), trs, trs, tr)
    np.testing.assert_allclose(out, 3.5)


def test_lanczos_of_dense_constant_signal_is_flat_inside_the_run():
    tr = 1.5
    onsets = np.arange(0, 45, 0.25)
    trs = np.arange(30) * tr
    out = lanczos_resample(np.ones((len(onsets), 1)), onsets, trs, tr)[:, 0]
    inner = out[4:-4]
    assert np.ptp(inner) < 1e-3 * inner.mean()
    assert inner.mean() == pytest.approx(tr / 0.25, rel=0.01)  # words per TR, as in lanczosinterp2D


def test_lanczos_kernel_shape():
    t = np.array([0.0, 1.0, 2.0, 2.9, 3.0, 3.5, -1.0])
    k = lanczos_kernel(t, cutoff=0.5, window=3)  # lobes of 1 s
    assert k[0] == 1.0
    np.testing.assert_allclose(k[[1, 2, 4, 5, 6]], 0.0, atol=1e-15)
    assert k[3] != 0.0
    assert lanczos_kernel(np.array([0.4]), 0.5)[0] == pytest.approx(lanczos_kernel(np.array([-0.4]), 0.5)[0])


def test_lanczos_rejects_mismatched_rows():
    with pytest.raises(ValueError, match="onsets"):
        lanczos_resample(np.zeros((3, 1)), [0.0, 1.0], [0.0], 1.0)


def test_window_average_by_hand():
    values = np.array([[1.0], [3.0], [10.0], [7.0]])
    onsets = np.array([0.1, 0.9, 2.5, 6.2])  # unsorted input is allowed below
    trs = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    out = window_average(values, onsets, trs, tr=1.0)
    # [0,1): mean(1, 3); [1,2): empty -> last unit before (3); [2,3): 10; [3,6): 10; [6,7): 7
    np.testing.assert_allclose(out[:, 0], [2.0, 3.0, 10.0, 10.0, 10.0, 10.0, 7.0])
    shuffled = window_average(values[::-1], onsets[::-1], trs, tr=1.0)
    np.testing.assert_allclose(shuffled, out)


def test_window_average_zero_before_first_unit_and_constant_stays_constant():
    out = window_average(np.array([[4.0]]), [2.0], [0.0, 1.0, 2.0, 3.0], tr=1.0)
    np.testing.assert_allclose(out[:, 0], [0.0, 0.0, 4.0, 4.0])
    onsets = np.arange(0, 10, 0.5)
    const = window_average(np.full((20, 2), 1.7), onsets, np.arange(5) * 2.0, tr=2.0)
    np.testing.assert_allclose(const, 1.7)


def test_align_to_trs_keeps_runs_apart():
    # run a has value 1, run b value 100; each run's TRs must see only its own units
    values = np.r_[np.ones(8), np.full(8, 100.0)][:, None]
    unit_runs = ["a"] * 8 + ["b"] * 8
    onsets = np.r_[np.arange(8) * 0.5, np.arange(8) * 0.5]
    tr_runs = ["a"] * 4 + ["b"] * 4
    tr_times = np.r_[np.arange(4), np.arange(4)] * 1.0
    avg = align_to_trs(values, unit_runs, onsets, tr_runs, tr_times, 1.0, "average")
    np.testing.assert_allclose(avg[:, 0], [1] * 4 + [100] * 4)
    lz = align_to_trs(values, unit_runs, onsets, tr_runs, tr_times, 1.0, "lanczos")
    np.testing.assert_allclose(lz[:4], lanczos_resample(values[:8], onsets[:8], tr_times[:4], 1.0))
    np.testing.assert_allclose(lz[4:], lanczos_resample(values[8:], onsets[8:], tr_times[4:], 1.0))


def test_align_to_trs_errors():
    with pytest.raises(ValueError, match="unknown alignment method 'nearest'; allowed: lanczos, average"):
        align_to_trs(np.zeros((1, 1)), ["a"], [0.0], ["a"], [0.0], 1.0, "nearest")
    with pytest.raises(ValueError, match=r"no stimulus features for runs \['c'\]"):
        align_to_trs(np.zeros((1, 1)), ["a"], [0.0], ["a", "c"], [0.0, 0.0], 1.0, "average")


def test_fir_delays_by_hand_with_run_boundaries():
    x = np.array([[1.0], [2.0], [3.0], [10.0], [20.0]])
    runs = ["r1", "r1", "r1", "r2", "r2"]
    out = fir_delays(x, runs, [0, 1, 2])
    expected = np.array([
        [1.0, 0.0, 0.0],
        [2.0, 1.0, 0.0],
        [3.0, 2.0, 1.0],
        [10.0, 0.0, 0.0],  # run r2 starts: nothing carried over from r1
        [20.0, 10.0, 0.0],
    ])
    np.testing.assert_array_equal(out, expected)


def test_fir_delays_layout_and_interleaved_runs():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 2))
    runs = np.array(["a", "b", "a", "b", "a", "b"])
    out = fir_delays(x, runs, [1, 2])
    assert out.shape == (6, 4)  # delay-major blocks of the original columns
    for d, block in zip([1, 2], [out[:, :2], out[:, 2:]]):
        for run in "ab":
            idx = np.flatnonzero(runs == run)
            np.testing.assert_array_equal(block[idx[:d]], 0.0)
            np.testing.assert_array_equal(block[idx[d:]], x[idx[:-d]])


def test_fir_delays_edge_cases():
    x = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(fir_delays(x, ["a"] * 3, []), x)
    np.testing.assert_array_equal(fir_delays(x, ["a"] * 3, [5]), np.zeros_like(x))
    with pytest.raises(ValueError, match="delays must be >= 0"):
        fir_delays(x, ["a"] * 3, [-1])
