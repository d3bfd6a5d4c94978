"""Metric maths: invariants, closed forms and agreement with straightforward reference implementations."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from genbench.metrics import (MetricInputError, density_coverage, effective_subset_size, feature_statistics,
                              frechet_distance, frechet_distance_from_stats, inception_score,
                              kernel_inception_distance, precision_recall)
from genbench.metrics import _neighbours
from genbench.metrics._neighbours import ball_counts, kth_neighbour_distances
from genbench.metrics.frechet import trace_sqrt_product


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


def test_trace_sqrt_product_is_exact_for_rank_deficient_covariances():
    # With n < d the covariances are singular; Tr((S1 S2)^{1/2}) then equals the nuclear norm of A B^T / (n - 1)
    # for the centred data A, B (the nonzero eigenvalues of S1 S2 are the squared singular values of A B^T).
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 200)), rng.normal(size=(30, 200)) * 1.5
    a, b = x - x.mean(0), y - y.mean(0)
    expected = np.linalg.svd(a @ b.T, compute_uv=False).sum() / 29
    s1, s2 = feature_statistics(x)[1], feature_statistics(y)[1]
    assert trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-12)
    assert trace_sqrt_product(s2, s1) == pytest.approx(expected, rel=1e-12)


def test_fd_rejects_statistics_that_are_not_covariances():
    with pytest.raises(MetricInputError, match="not positive semidefinite"):
        frechet_distance_from_stats(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))
    with pytest.raises(MetricInputError, match="not symmetric"):
        frechet_distance_from_stats(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2))
    with pytest.raises(MetricInputError, match="differ in dimension"):
        frechet_distance_from_stats(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_feature_statistics_match_numpy_whatever_the_block_size(monkeypatch):
    x = gaussian(1000, 6, seed=2) * np.arange(1, 7) + 100.0
    monkeypatch.setattr("genbench.metrics.frechet._COV_ROWS", 7)
    mu, sigma = feature_statistics(x)
    np.testing.assert_allclose(mu, x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-12)
    assert (sigma == sigma.T).all()


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


def test_kth_neighbour_distances_agree_with_sorting_across_tiles():
    # 67 rows in tiles of 32: the last tile (3 rows) is smaller than k + 1, so its rows start with no
    # finite running k-th value; chunk=1000 is a single tile.
    x = gaussian(67, 12, seed=9)
    distances = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=-1)
    for k in (1, 5):
        expected = np.sort(distances, axis=1)[:, k]
        for chunk in (32, 1000):
            np.testing.assert_allclose(kth_neighbour_distances(x, k, chunk=chunk), expected, rtol=1e-12)


def test_ball_counts_include_the_boundary_and_count_both_ways():
    centres = np.array([[0.0, 0.0], [10.0, 0.0]])
    probes = np.array([[1.0, 0.0], [5.0, 0.0], [9.0, 0.0], [0.5, 0.0]])
    per_probe, per_centre = ball_counts(probes, centres, np.array([1.0, 5.0]), chunk=3)
    assert per_probe.tolist() == [1, 1, 1, 1] and per_centre.tolist() == [2, 2]


# --------------------------------------------------------------------------- density / coverage


def brute_force_density_coverage(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Naeem et al. eqs. (3)-(4) over the full distance matrices, strict ball membership as in their code."""
    def dist(a, b):
        return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)

    radii = np.sort(dist(real, real), axis=1)[:, k]  # index 0 is the point itself
    inside = dist(fake, real) < radii[None, :]  # (fake, real)
    return float(inside.sum() / (k * len(fake))), float(inside.any(axis=0).mean())


def test_density_coverage_agree_with_brute_force_and_ignore_chunk_size():
    real, fake = gaussian(300, 5, seed=0), gaussian(250, 5, seed=1, shift=0.4) * 1.2
    expected = brute_force_density_coverage(real, fake, k=5)
    assert 0.05 < expected[0] < 2.0 and 0.05 < expected[1] < 0.95
    for chunk in (1, 7, 64, 10_000):
        assert density_coverage(real, fake, k=5, chunk=chunk) == pytest.approx(expected, abs=1e-12)
    assert density_coverage(real, fake, k=2) == pytest.approx(brute_force_density_coverage(real, fake, k=2))


def test_density_can_exceed_one_and_coverage_needs_only_real_neighbours():
    real = gaussian(200, 3, seed=0)
    fake = real[:3] + 1e-3  # three fakes packed near real points: dense but covering little
    density, coverage = density_coverage(real, fake, k=5)
    assert density == pytest.approx(brute_force_density_coverage(real, fake, k=5)[0])
    assert coverage == pytest.approx(brute_force_density_coverage(real, fake, k=5)[1])
    assert density > 1.0 and coverage < 0.2


# --------------------------------------------------------------------------- exact decisions behind the float32 screen


def test_the_screen_error_bound_holds():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 300)) * 3 + 5, rng.normal(size=(150, 300)) * 2 - 1
    pa, pb = _neighbours.prepare(a, b)
    d2, bound = _neighbours._screened_block(pa, slice(0, 200), pb, np.float32)
    exact = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    assert (np.abs(d2 - exact) <= bound[:, None]).all()
    assert np.abs(d2 - exact).max() > 0  # float32 really is approximate here


def test_float32_and_float64_inputs_give_the_same_decisions():
    real, fake = gaussian(300, 40, seed=3).astype(np.float32), (gaussian(300, 40, seed=4) * 1.1).astype(np.float32)
    assert precision_recall(real, fake) == precision_recall(real.astype(np.float64), fake.astype(np.float64))
    assert density_coverage(real, fake) == density_coverage(real.astype(np.float64), fake.astype(np.float64))


def test_near_duplicate_features_fall_back_to_a_float64_screen(monkeypatch):
    # Two tight clusters far apart: distances inside a cluster are ~1e-9 of the squared norms, below what a
    # float32 screen can resolve, so blocks are screened again in float64; the answers stay exact.
    rng = np.random.default_rng(0)
    centres = np.array([[1e3] * 8, [-1e3] * 8])
    real = centres[rng.integers(0, 2, 300)] + 1e-2 * rng.normal(size=(300, 8))
    fake = centres[rng.integers(0, 2, 250)] + 1.3e-2 * rng.normal(size=(250, 8))
    screens = []
    screened_block = _neighbours._screened_block
    monkeypatch.setattr(_neighbours, "_screened_block",
                        lambda *args, **kwargs: screens.append(args[3]) or screened_block(*args, **kwargs))
    assert precision_recall(real, fake, k=3) == pytest.approx(brute_force_precision_recall(real, fake, k=3), abs=1e-12)
    assert density_coverage(real, fake, k=5) == pytest.approx(brute_force_density_coverage(real, fake, k=5), abs=1e-12)
    assert np.float64 in screens


# --------------------------------------------------------------------------- input validation


def _calls():
    """(metric name, call(real, fake), input names it validates, minimum rows) for every metric."""
    return [
        ("fd", lambda r, f: frechet_distance(r, f), 2),
        ("kid", lambda r, f: kernel_inception_distance(r, f, num_subsets=2, subset_size=10, seed=0), 2),
        ("precision_recall", lambda r, f: precision_recall(r, f, k=3), 4),
        ("density_coverage", lambda r, f: density_coverage(r, f, k=5), 6),
    ]


@pytest.mark.parametrize("metric,call,min_rows", _calls(), ids=[c[0] for c in _calls()])
@pytest.mark.parametrize("side", ["real", "fake"])
def test_every_metric_rejects_bad_features_naming_the_input(metric, call, min_rows, side):
    good = gaussian(20, 4, seed=0)
    bad_inputs = {
        "a 2-D": good[:, 0],
        "floating-point": (good * 10).astype(np.int64),
        "NaN or infinity": np.where(np.arange(20)[:, None] == 7, np.nan, good),
        "at least": good[:1],
        "differ in dimension": good[:, :3],
    }
    for expected, bad in bad_inputs.items():
        args = (bad, good) if side == "real" else (good, bad)
        if expected == "at least" and side == "fake" and metric == "density_coverage":
            continue  # density/coverage only needs real neighbours; one fake sample is enough
        with pytest.raises(MetricInputError, match=expected) as info:
            call(*args)
        message = str(info.value)
        assert "\n" not in message
        name = "real features" if expected == "differ in dimension" else f"{side} features"
        assert name in message, message


def test_validation_messages_say_what_to_do():
    with pytest.raises(MetricInputError, match=r"row 3\b"):
        precision_recall(np.where(np.arange(10)[:, None] == 3, np.inf, gaussian(10, 2, seed=0)),
                         gaussian(10, 2, seed=1))
    with pytest.raises(MetricInputError, match="evaluate more images"):
        precision_recall(gaussian(3, 2, seed=0), gaussian(10, 2, seed=1), k=3)
    with pytest.raises(MetricInputError, match="k must be a positive integer"):
        density_coverage(gaussian(10, 2, seed=0), gaussian(10, 2, seed=1), k=0)
    with pytest.raises(MetricInputError, match="logits"):
        inception_score(np.ones((10, 3), dtype=np.int32), splits=2)
    with pytest.raises(MetricInputError, match="logits: contains NaN"):
        inception_score(np.full((10, 3), np.nan), splits=2)
    with pytest.raises(MetricInputError, match="C >= 2"):
        inception_score(np.ones((10, 1)), splits=2)
    assert issubclass(MetricInputError, ValueError)
