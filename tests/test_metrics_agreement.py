"""genbench's metrics against the reference implementations, on fresh random inputs every run.

Peers: clean-fid (FD, KID), prdc (the authors' code of Naeem et al.: precision, recall, density, coverage)
and torch-fidelity (IS, and KID once more). Each test draws its own seed with ``secrets.randbits`` and
prints it in every assertion message; ``GENBENCH_METRICS_SEED=<seed>`` replays a failure.

Same subsets for KID. clean-fid draws each subset pair with the global ``np.random.choice`` (fake rows
first, then real rows, called as ``kernel_distance(real, fake)``); torch-fidelity draws with
``np.random.RandomState(seed).choice`` (its ``features_1`` first). genbench draws from
``np.random.default_rng(seed).choice`` in the same order (fake, then real). The tests replace the peer's
``choice`` by the ``choice`` of a fresh ``default_rng(seed)`` (monkeypatch), so all three evaluate the
identical index sets and only the arithmetic differs.

Inputs are float64 (every peer then computes in float64; one KID test gives genbench float32 features)
with real and fake sets of different distributions, so the numbers are not near 0 and a relative
tolerance means something.
"""
from __future__ import annotations

import contextlib
import io
import os
import secrets
import warnings

import numpy as np
import pytest

from genbench.metrics import (density_coverage, feature_statistics, frechet_distance, frechet_distance_from_stats,
                              inception_score, kernel_inception_distance, precision_recall)


@pytest.fixture()
def seed() -> int:
    return int(os.environ.get("GENBENCH_METRICS_SEED", secrets.randbits(32)))


def features(seed: int, n_real: int, n_fake: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Real ~ N(0, I); fake ~ N(shift, scale^2 I) with a random shift and scale, so both sets differ."""
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((n_real, dim))
    fake = rng.uniform(0.9, 1.2) * rng.standard_normal((n_fake, dim)) + rng.uniform(0.0, 0.3)
    return real, fake


def relative_error(ours: float, reference: float) -> float:
    return abs(ours - reference) / abs(reference)


# (n_real, n_fake, dim): sizes of both orders, and dimensions below and above the sample counts
SHAPES = [(200, 150, 8), (500, 600, 64), (300, 300, 256), (120, 100, 160)]


# --------------------------------------------------------------------------- Frechet distance


@pytest.mark.parametrize("shape", SHAPES)
def test_fd_agrees_with_clean_fid(shape, seed):
    clean = pytest.importorskip("cleanfid.fid")
    real, fake = features(seed, *shape)
    stats = [(x.mean(axis=0), np.cov(x, rowvar=False)) for x in (real, fake)]  # clean-fid's own statistics
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # scipy's deprecation of sqrtm(disp=...)
        reference = float(clean.frechet_distance(*stats[0], *stats[1]))
    ours_stats = [feature_statistics(x) for x in (real, fake)]
    for ours in (frechet_distance(real, fake), frechet_distance_from_stats(*stats[0], *stats[1]),
                 frechet_distance_from_stats(*ours_stats[0], *ours_stats[1])):
        assert relative_error(ours, reference) <= 1e-6, f"seed={seed} shape={shape}: {ours} vs {reference}"


def test_fd_invariants(seed):
    real, fake = features(seed, 400, 300, 32)
    trace = np.trace(feature_statistics(real)[1])
    assert abs(frechet_distance(real, real)) <= 1e-10 * trace, f"seed={seed}"
    assert relative_error(frechet_distance(real, fake), frechet_distance(fake, real)) <= 1e-10, f"seed={seed}"
    assert frechet_distance(real, fake) > 0, f"seed={seed}"


# --------------------------------------------------------------------------- KID


@pytest.mark.parametrize("shape", [(200, 150, 8), (500, 600, 64), (300, 300, 256)])
def test_kid_agrees_with_clean_fid_on_the_same_subsets(shape, seed, monkeypatch):
    clean = pytest.importorskip("cleanfid.fid")
    real, fake = features(seed, *shape)
    subsets, subset_size = 5, 100
    ours, _ = kernel_inception_distance(real, fake, num_subsets=subsets, subset_size=subset_size, seed=seed)
    monkeypatch.setattr(clean.np.random, "choice", np.random.default_rng(seed).choice)
    reference = clean.kernel_distance(real, fake, num_subsets=subsets, max_subset_size=subset_size)
    assert relative_error(ours, reference) <= 1e-6, f"seed={seed} shape={shape}: {ours} vs {reference}"


def test_kid_of_float32_features_agrees_with_float64_clean_fid(seed, monkeypatch):
    # float32 features: genbench's products are float32 (as the peers'); the reference gets float64 copies.
    clean = pytest.importorskip("cleanfid.fid")
    real, fake = features(seed, 400, 400, 512)
    real, fake = real.astype(np.float32), (fake + 0.5).astype(np.float32)  # MMD^2 well away from 0
    ours, _ = kernel_inception_distance(real, fake, num_subsets=3, subset_size=200, seed=seed)
    monkeypatch.setattr(clean.np.random, "choice", np.random.default_rng(seed).choice)
    reference = clean.kernel_distance(real.astype(np.float64), fake.astype(np.float64), num_subsets=3,
                                      max_subset_size=200)
    assert relative_error(ours, reference) <= 1e-6, f"seed={seed}: {ours} vs {reference}"


def test_kid_agrees_with_torch_fidelity_on_the_same_subsets(seed, monkeypatch):
    torch = pytest.importorskip("torch")
    metric_kid = pytest.importorskip("torch_fidelity.metric_kid")
    real, fake = features(seed, 300, 250, 48)
    subsets, subset_size = 5, 120
    ours = kernel_inception_distance(real, fake, num_subsets=subsets, subset_size=subset_size, seed=seed)
    replay = np.random.default_rng(seed)
    monkeypatch.setattr(metric_kid.np.random, "RandomState", lambda _seed: replay)
    out = metric_kid.kid_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real), kid_subsets=subsets,
                                            kid_subset_size=subset_size, verbose=False)
    reference = out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]
    for mine, theirs in zip(ours, reference):
        assert relative_error(mine, theirs) <= 1e-6, f"seed={seed}: {ours} vs {reference}"


def test_kid_is_symmetric(seed):
    real, fake = features(seed, 150, 150, 16)
    # full subsets are permutations of the sets, so the draw order does not matter
    forward = kernel_inception_distance(real, fake, num_subsets=2, subset_size=150, seed=seed)
    backward = kernel_inception_distance(fake, real, num_subsets=2, subset_size=150, seed=seed)
    assert relative_error(forward[0], backward[0]) <= 1e-10, f"seed={seed}: {forward} vs {backward}"


# --------------------------------------------------------------------------- precision, recall, density, coverage


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("shape", SHAPES)
def test_prdc_agree_with_the_authors_code(shape, k, seed):
    prdc = pytest.importorskip("prdc")
    real, fake = features(seed, *shape)
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
        reference = prdc.compute_prdc(real, fake, nearest_k=k)
    ours = dict(zip(("precision", "recall"), precision_recall(real, fake, k=k)))
    ours.update(zip(("density", "coverage"), density_coverage(real, fake, k=k)))
    for name, value in ours.items():
        assert abs(value - reference[name]) <= 1e-9, f"seed={seed} shape={shape} k={k} {name}: {ours} vs {reference}"


def test_precision_and_recall_swap_with_the_sets(seed):
    real, fake = features(seed, 300, 250, 24)
    precision, recall = precision_recall(real, fake, k=3)
    assert precision_recall(fake, real, k=3) == (recall, precision), f"seed={seed}"


def test_density_and_coverage_of_identical_sets_are_one(seed):
    real, _ = features(seed, 400, 1, 32)
    assert density_coverage(real, real.copy(), k=5) == (1.0, 1.0), f"seed={seed}"


# --------------------------------------------------------------------------- Inception Score


@pytest.mark.parametrize("n,classes,splits", [(1000, 10, 10), (999, 1000, 7), (50, 3, 1)])
def test_is_agrees_with_torch_fidelity(n, classes, splits, seed):
    torch = pytest.importorskip("torch")
    metric_isc = pytest.importorskip("torch_fidelity.metric_isc")
    logits = 4.0 * np.random.default_rng(seed).standard_normal((n, classes))
    out = metric_isc.isc_features_to_metric(torch.from_numpy(logits), splits=splits, shuffle=False)
    reference = out["inception_score_mean"], out["inception_score_std"]
    ours = inception_score(logits, splits=splits)
    assert relative_error(ours[0], reference[0]) <= 1e-4, f"seed={seed}: {ours} vs {reference}"
    assert abs(ours[1] - reference[1]) <= 1e-4 * reference[0], f"seed={seed}: {ours} vs {reference}"
