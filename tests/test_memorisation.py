"""The memorisation check: exact nearest neighbours, and copy statistics that flag copies and only copies."""
from __future__ import annotations

import numpy as np
import pytest

from genbench.metrics import MetricInputError
from genbench.metrics.memorisation import copy_statistics, nearest_neighbours


def test_nearest_neighbours_match_brute_force_in_every_block():
    rng = np.random.default_rng(0)
    queries, refs = rng.normal(size=(37, 5)).astype(np.float32), rng.normal(size=(200, 5)).astype(np.float32)
    idx, dist = nearest_neighbours(queries, refs, 4, chunk=8)
    full = np.linalg.norm(queries[:, None, :].astype(np.float64) - refs[None, :, :], axis=2)
    expected = np.argsort(full, axis=1, kind="stable")[:, :4]
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_allclose(dist, np.take_along_axis(full, expected, axis=1), rtol=1e-6, atol=1e-6)
    assert (np.diff(dist, axis=1) >= 0).all()


def test_ties_go_to_the_lower_index_and_a_copy_is_at_distance_zero():
    refs = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    idx, dist = nearest_neighbours(np.array([[1.0, 0.0]]), refs, 3)
    assert idx.tolist() == [[1, 2, 0]] and dist[0, :2].tolist() == [0.0, 0.0] and dist[0, 2] == 1.0


def test_copies_are_flagged_and_fresh_samples_are_not():
    rng = np.random.default_rng(1)
    train, test, fresh = (rng.normal(size=(n, 8)) for n in (2000, 500, 500))
    _, test_d = nearest_neighbours(test, train, 1)
    _, fresh_d = nearest_neighbours(fresh, train, 1)
    copies = train[:500] + rng.normal(scale=1e-3, size=(500, 8))
    _, copy_d = nearest_neighbours(copies, train, 1)
    honest = copy_statistics(fresh_d[:, 0], test_d[:, 0])
    copied = copy_statistics(copy_d[:, 0], test_d[:, 0])
    assert 0.9 < honest["distance_ratio"] < 1.1 and honest["near_copy_rate"] < 0.1
    assert copied["distance_ratio"] < 0.01 and copied["near_copy_rate"] == 1.0


def test_bad_inputs_name_what_is_wrong():
    with pytest.raises(MetricInputError, match="training features"):
        nearest_neighbours(np.zeros((2, 3)), np.zeros((2, 3)), 3)
    with pytest.raises(MetricInputError, match="query features.*NaN"):
        nearest_neighbours(np.array([[np.nan, 0.0]]), np.zeros((4, 2)), 1)
    with pytest.raises(MetricInputError, match="median is 0"):
        copy_statistics(np.ones(3), np.zeros(3))
    with pytest.raises(MetricInputError, match="quantile"):
        copy_statistics(np.ones(3), np.ones(3), quantile=1.0)
