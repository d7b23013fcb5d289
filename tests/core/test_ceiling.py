"""Noise ceilings: NSD ncsnr formula, split-half with Spearman-Brown, cross-subject ceiling."""

from __future__ import annotations

import numpy as np
import pytest

from brainalign.ceiling import (
    columnwise_pearson,
    cross_subject_ceiling,
    fit_saturation,
    ncsnr_from_repeats,
    nsd_effective_inverse_n,
    nsd_noise_ceiling,
    spearman_brown,
    split_half_ceiling,
)


def test_effective_inverse_n_mixed_repeats_by_hand():
    # A = 2 images shown 3 times, B = 1 shown twice, C = 1 shown once
    expected = (2 / 3 + 1 / 2 + 1 / 1) / (2 + 1 + 1)
    assert nsd_effective_inverse_n([3, 3, 2, 1]) == pytest.approx(expected)
    assert nsd_effective_inverse_n([3] * 10) == pytest.approx(1 / 3)


@pytest.mark.parametrize("bad", [[], [3, 0], [-1]])
def test_effective_inverse_n_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="repeat_counts"):
        nsd_effective_inverse_n(bad)


def test_nsd_noise_ceiling_by_hand():
    ncsnr = np.array([0.0, 0.5, 1.0, 2.0])
    inv_n = (2 / 3 + 1 / 2 + 1) / 4
    nc_percent = 100 * ncsnr**2 / (ncsnr**2 + inv_n)
    np.testing.assert_allclose(nsd_noise_ceiling(ncsnr, [3, 3, 2, 1]), np.sqrt(nc_percent / 100))
    # all images shown 3 times: NC = snr^2 / (snr^2 + 1/3)
    assert nsd_noise_ceiling([1.0], [3, 3])[0] == pytest.approx(np.sqrt(1 / (1 + 1 / 3)))


def test_ncsnr_from_repeats_by_hand():
    # stimulus a: 1, 2; stimulus b: 5, 6; stimulus c shown once (ignored)
    trials = np.array([[1.0], [5.0], [2.0], [6.0], [100.0]])
    ids = ["a", "b", "a", "b", "c"]
    noise_var = (0.5 + 0.5) / 2
    total_var = np.var([1, 5, 2, 6], ddof=1)
    expected = np.sqrt(total_var - noise_var) / np.sqrt(noise_var)
    np.testing.assert_allclose(ncsnr_from_repeats(trials, ids), [expected])


def test_ncsnr_is_zero_when_noise_exceeds_total_variance():
    trials = np.array([[1.0], [3.0], [2.0], [6.0]])  # within-stimulus variance > total
    assert ncsnr_from_repeats(trials, ["a", "a", "b", "b"])[0] == 0.0


def test_ncsnr_needs_a_repeat():
    with pytest.raises(ValueError, match="shown twice"):
        ncsnr_from_repeats(np.zeros((3, 2)), ["a", "b", "c"])


def test_spearman_brown_by_hand():
    np.testing.assert_allclose(spearman_brown([0.0, 0.5, 0.25]), [0.0, 2 * 0.5 / 1.5, 2 * 0.25 / 1.25])
    assert spearman_brown(0.5, 3.0) == pytest.approx(3 * 0.5 / (1 + 2 * 0.5))


def test_split_half_ceiling_by_hand():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((50, 3))
    b = a + rng.standard_normal((50, 3))
    r = np.array([np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(3)])
    np.testing.assert_allclose(split_half_ceiling(a, b), np.sqrt(2 * r / (1 + r)))


def test_negative_split_half_is_clipped_to_zero():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((40, 2))
    out = split_half_ceiling(a, -a + 0.1 * rng.standard_normal((40, 2)))
    np.testing.assert_array_equal(out, [0.0, 0.0])


def test_split_half_shape_mismatch():
    with pytest.raises(ValueError, match="differ in shape"):
        split_half_ceiling(np.zeros((3, 2)), np.zeros((4, 2)))


def test_split_half_recovers_simulated_ceiling():
    rng = np.random.default_rng(2)
    n, v = 4000, 30
    noise_sd = np.linspace(0.3, 2.5, v)
    signal = rng.standard_normal((n, v))
    rep1 = signal + noise_sd * rng.standard_normal((n, v))
    rep2 = signal + noise_sd * rng.standard_normal((n, v))
    truth = np.sqrt(1 / (1 + noise_sd**2 / 2))  # corr(signal, mean of 2 repeats)
    est = split_half_ceiling(rep1, rep2)
    assert np.max(np.abs(est - truth)) < 0.05
    empirical = columnwise_pearson(signal, (rep1 + rep2) / 2)
    assert np.max(np.abs(empirical - truth)) < 0.05


def test_nsd_ceiling_recovers_simulated_ceiling():
    rng = np.random.default_rng(3)
    n_img, reps, v = 1500, 3, 20
    noise_sd = np.linspace(0.5, 3.0, v)
    signal = rng.standard_normal((n_img, v))
    trials = np.concatenate([signal + noise_sd * rng.standard_normal((n_img, v)) for _ in range(reps)])
    ids = np.tile(np.arange(n_img), reps)
    est = nsd_noise_ceiling(ncsnr_from_repeats(trials, ids), np.full(n_img, reps))
    truth = np.sqrt(1 / (1 + noise_sd**2 / reps))
    assert np.max(np.abs(est - truth)) < 0.05
    averaged = trials.reshape(reps, n_img, v).mean(axis=0)
    assert np.max(np.abs(columnwise_pearson(signal, averaged) - truth)) < 0.05


def test_columnwise_pearson_matches_numpy_and_flags_constant_columns():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((20, 3)), rng.standard_normal((20, 3))
    expected = [np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(3)]
    np.testing.assert_allclose(columnwise_pearson(a, b), expected)
    a[:, 1] = 2.0
    assert np.isnan(columnwise_pearson(a, b)[1])


def test_fit_saturation_recovers_v0():
    sizes = np.arange(1, 6)
    taus = np.geomspace(0.1, 50, 60)
    v0 = np.array([0.6, 0.2])
    tau = taus[[20, 35]]
    curve = v0 * (1 - np.exp(-sizes[:, None] / tau))
    np.testing.assert_allclose(fit_saturation(sizes, curve, taus), v0, rtol=1e-10)


def test_cross_subject_ceiling_of_shared_signal():
    rng = np.random.default_rng(5)
    n, v = 120, 6
    shared = rng.standard_normal((n, v))
    shared[:, 3:] = 0.0  # last voxels carry no stimulus-driven signal
    subjects = [shared + 0.5 * rng.standard_normal((n, v)) for _ in range(3)]
    train, test = np.arange(90), np.arange(90, n)
    groups = np.repeat(np.arange(3), 40)
    out = cross_subject_ceiling(subjects, 0, train, test, groups=groups, n_bootstrap=2, seed=0)
    assert out.shape == (v,)
    assert np.all((out >= 0) & (out <= 1))
    assert out[:3].min() > 0.6
    again = cross_subject_ceiling(subjects, 0, train, test, groups=groups, n_bootstrap=2, seed=0)
    np.testing.assert_array_equal(out, again)


def test_cross_subject_ceiling_of_pure_noise_voxels_stays_low():
    rng = np.random.default_rng(6)
    n, v = 120, 40
    subjects = [rng.standard_normal((n, v)) for _ in range(3)]  # nothing shared
    train, test = np.arange(90), np.arange(90, n)
    groups = np.repeat(np.arange(3), 40)
    out = cross_subject_ceiling(subjects, 0, train, test, groups=groups, n_bootstrap=3, seed=0)
    assert out.max() < 0.5
    assert out.mean() < 0.15


def test_cross_subject_ceiling_errors():
    y = np.zeros((10, 2))
    with pytest.raises(ValueError, match="at least two subjects"):
        cross_subject_ceiling([y], 0, np.arange(5), np.arange(5, 10))
    with pytest.raises(ValueError, match="samples"):
        cross_subject_ceiling([y, np.zeros((9, 2))], 0, np.arange(5), np.arange(5, 9))
