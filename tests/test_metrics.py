"""Metric maths: invariants, closed forms and agreement with straightforward reference implementations."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from genbench.metrics import (effective_subset_size, feature_statistics, frechet_distance,
                              frechet_distance_from_stats, inception_score, kernel_inception_distance,
                              precision_recall)
from genbench.metrics import frechet as frechet_module
from genbench.metrics._neighbours import ball_counts, kth_neighbour_distances


def gaussian(n: int, d: int, *, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def test_metrics_package_imports_no_tracking_workflow_or_models():
    code = ("import sys, genbench.metrics; "
            "bad = [m for m in ('mlflow', 'snakemake', 'genbench.models') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- Frechet distance


def test_fd_of_a_set_with_itself_is_zero():
    x = gaussian(500, 16, seed=0)
    assert abs(frechet_distance(x, x)) < 1e-6


def test_fd_is_symmetric_and_positive_for_different_sets():
    x, y = gaussian(400, 8, seed=0), gaussian(300, 8, seed=1, shift=0.5)
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-9)
    assert frechet_distance(x, y) > 0


def test_fd_matches_closed_form_for_diagonal_covariances():
    rng = np.random.default_rng(3)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.1, 3.0, size=6), rng.uniform(0.1, 3.0, size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance_from_stats(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def test_fd_matches_closed_form_for_commuting_full_covariances():
    rng = np.random.default_rng(4)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))  # a shared eigenbasis makes sqrtm(S1 S2) = Q sqrt(a b) Q^T
    a, b = rng.uniform(0.5, 2.0, size=5), rng.uniform(0.5, 2.0, size=5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    got = frechet_distance_from_stats(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-8)


def test_feature_statistics_are_float64_for_float32_input():
    x = gaussian(100, 4, seed=0).astype(np.float32)
    mu, sigma = feature_statistics(x)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64 and sigma.shape == (4, 4)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False))
    assert isinstance(frechet_distance(x, x[::-1]), float)


def test_fd_is_finite_with_singular_covariances():
    x, y = gaussian(10, 64, seed=0), gaussian(12, 64, seed=1)  # n < d: rank-deficient covariances
    assert np.isfinite(frechet_distance(x, y))


def test_fd_adds_eps_to_the_diagonals_when_the_product_root_is_not_finite(monkeypatch):
    real_sqrtm = frechet_module.linalg.sqrtm
    seen = []

    def flaky_sqrtm(a):
        seen.append(a)
        return np.full_like(a, np.nan) if len(seen) == 1 else real_sqrtm(a)

    monkeypatch.setattr(frechet_module.linalg, "sqrtm", flaky_sqrtm)
    s1, s2 = np.diag([1.0, 2.0]), np.diag([3.0, 4.0])
    with pytest.warns(RuntimeWarning, match="singular"):
        value = frechet_distance_from_stats(np.zeros(2), s1, np.zeros(2), s2, eps=0.5)
    np.testing.assert_allclose(seen[1], (s1 + 0.5 * np.eye(2)) @ (s2 + 0.5 * np.eye(2)))
    assert np.isfinite(value)


def test_fd_rejects_a_large_imaginary_component(monkeypatch):
    monkeypatch.setattr(frechet_module.linalg, "sqrtm", lambda a: a + 1j * np.eye(len(a)))
    with pytest.raises(ValueError, match="imaginary"):
        frechet_distance_from_stats(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fd_agrees_with_clean_fid():
    cleanfid = pytest.importorskip("cleanfid.fid")
    x, y = gaussian(300, 32, seed=0), gaussian(300, 32, seed=1, shift=0.2)
    (mu1, s1), (mu2, s2) = feature_statistics(x), feature_statistics(y)
    assert frechet_distance(x, y) == pytest.approx(cleanfid.frechet_distance(mu1, s1, mu2, s2), rel=1e-10)


# --------------------------------------------------------------------------- KID


def reference_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b/d + 1)^3, written as the double sums of the definition."""
    m, d = x.shape

    def k(a, b):
        return (a @ b / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / (m * m)


def test_kid_agrees_with_the_definition_on_one_subset():
    real, fake = gaussian(40, 6, seed=0), gaussian(40, 6, seed=1, shift=0.3)
    mean, std = kernel_inception_distance(real, fake, num_subsets=1, subset_size=40, seed=0)
    assert mean == pytest.approx(reference_mmd2(fake, real), rel=1e-10)  # a full subset: order is irrelevant
    assert std == 0.0

    mean, _ = kernel_inception_distance(real, fake, num_subsets=1, subset_size=15, seed=7)
    rng = np.random.default_rng(7)  # the documented draw order: fake rows, then real rows
    x, y = fake[rng.choice(40, 15, replace=False)], real[rng.choice(40, 15, replace=False)]
    assert mean == pytest.approx(reference_mmd2(x, y), rel=1e-10)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_shifted_ones():
    real, same, shifted = gaussian(1000, 16, seed=0), gaussian(1000, 16, seed=1), gaussian(1000, 16, seed=2, shift=0.5)
    same_mean, same_std = kernel_inception_distance(real, same, num_subsets=20, subset_size=200, seed=0)
    far_mean, _ = kernel_inception_distance(real, shifted, num_subsets=20, subset_size=200, seed=0)
    assert abs(same_mean) < 0.02
    assert same_std > 0
    assert far_mean > 0.3 and far_mean > 20 * abs(same_mean)


def test_kid_is_deterministic_for_a_seed_and_clips_the_subset_size():
    real, fake = gaussian(60, 4, seed=0), gaussian(50, 4, seed=1)
    first = kernel_inception_distance(real, fake, num_subsets=5, subset_size=20, seed=3)
    assert first == kernel_inception_distance(real, fake, num_subsets=5, subset_size=20, seed=3)
    assert first != kernel_inception_distance(real, fake, num_subsets=5, subset_size=20, seed=4)
    assert effective_subset_size(60, 50, 1000) == 50
    clipped = kernel_inception_distance(real, fake, num_subsets=2, subset_size=1000, seed=0)
    assert clipped == kernel_inception_distance(real, fake, num_subsets=2, subset_size=50, seed=0)
    with pytest.raises(ValueError, match="at least 2"):
        kernel_inception_distance(real[:1], fake, num_subsets=2, subset_size=10, seed=0)


# --------------------------------------------------------------------------- Inception Score


def test_is_of_confident_predictions_spread_over_classes_is_the_class_count():
    c = 10
    labels = np.arange(1000) % c
    logits = 40.0 * np.eye(c)[labels]
    mean, std = inception_score(logits, splits=10)
    assert mean == pytest.approx(c, rel=1e-6) and std < 1e-6
    assert inception_score(np.eye(c)[labels], splits=10, from_logits=False)[0] == pytest.approx(c, rel=1e-12)


def test_is_of_identical_predictions_is_one():
    logits = np.tile(np.random.default_rng(0).normal(size=(1, 7)), (300, 1))
    mean, std = inception_score(logits, splits=3)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_is_agrees_with_the_reference_code_and_splits_give_a_std():
    logits = 3 * np.random.default_rng(1).normal(size=(1000, 10)).astype(np.float32)
    probs = np.exp(logits - logits.max(1, keepdims=True).astype(np.float64))
    probs /= probs.sum(1, keepdims=True)
    scores = []  # Salimans et al.'s inception_score.py, minus the network
    for i in range(5):
        part = probs[i * 1000 // 5:(i + 1) * 1000 // 5]
        kl = part * (np.log(part) - np.log(np.mean(part, 0, keepdims=True)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    mean, std = inception_score(logits, splits=5)
    assert mean == pytest.approx(np.mean(scores), rel=1e-10) and std == pytest.approx(np.std(scores), rel=1e-8)
    assert std > 0
    assert inception_score(probs, splits=5, from_logits=False)[0] == pytest.approx(mean, rel=1e-10)
    assert inception_score(logits, splits=1)[1] == 0.0


def test_is_is_stable_for_huge_logits_and_rejects_bad_input():
    logits = np.zeros((20, 3))
    logits[:, 0] = 1e4
    assert inception_score(logits, splits=2)[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="splits"):
        inception_score(logits, splits=21)
    with pytest.raises(ValueError, match="probabilities"):
        inception_score(logits, splits=2, from_logits=False)


# --------------------------------------------------------------------------- precision / recall


def brute_force_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    def dist(a, b):
        return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)

    def coverage(manifold, probes):
        radii = np.sort(dist(manifold, manifold), axis=1)[:, k]  # index 0 is the point itself
        return float(np.mean((dist(probes, manifold) <= radii[None, :]).any(axis=1)))

    return coverage(real, fake), coverage(fake, real)


def test_precision_recall_of_identical_sets_is_one_and_of_far_sets_zero():
    x = gaussian(200, 8, seed=0)
    assert precision_recall(x, x.copy()) == (1.0, 1.0)
    assert precision_recall(x, gaussian(150, 8, seed=1, shift=100.0)) == (0.0, 0.0)


def test_precision_recall_agrees_with_brute_force_and_ignores_chunk_size():
    real, fake = gaussian(300, 5, seed=0), gaussian(250, 5, seed=1, shift=0.7) * 1.3
    expected = brute_force_precision_recall(real, fake, k=3)
    assert 0.05 < expected[0] < 0.95 and 0.05 < expected[1] < 0.95  # a case where both numbers mean something
    assert precision_recall(real, fake, k=3) == pytest.approx(expected, abs=1e-12)
    for chunk in (1, 7, 64, 10_000):
        assert precision_recall(real, fake, k=3, chunk=chunk) == pytest.approx(expected, abs=1e-12)
    assert precision_recall(real, fake, k=5) == pytest.approx(brute_force_precision_recall(real, fake, k=5))


def test_kth_neighbour_counts_duplicates_at_distance_zero_and_excludes_self():
    x = np.array([[0.0], [0.0], [1.0], [3.0], [7.0]])
    np.testing.assert_allclose(kth_neighbour_distances(x, 1, chunk=2), [0.0, 0.0, 1.0, 2.0, 4.0])
    np.testing.assert_allclose(kth_neighbour_distances(x, 2, chunk=3), [1.0, 1.0, 1.0, 3.0, 6.0])
    with pytest.raises(ValueError, match="k"):
        kth_neighbour_distances(x, 5)


def test_ball_counts_include_the_boundary_and_count_both_ways():
    centres = np.array([[0.0, 0.0], [10.0, 0.0]])
    probes = np.array([[1.0, 0.0], [5.0, 0.0], [9.0, 0.0], [0.5, 0.0]])
    per_probe, per_centre = ball_counts(probes, centres, np.array([1.0, 5.0]), chunk=3)
    assert per_probe.tolist() == [1, 1, 1, 1] and per_centre.tolist() == [2, 2]
