"""Chunked Euclidean k-nearest-neighbour helpers for the manifold metrics.

Improved precision/recall (k=3) and density/coverage (k=5) both estimate a manifold as the union of balls
around each sample whose radius is the distance to its k-th nearest neighbour, then count which probes
fall into which balls. Everything reduces to two questions about Euclidean distances: "which is the
(k+1)-th smallest distance in this row" and "is this distance below (or at) that radius".

Exact decisions at float32 speed. A block of ``chunk`` rows against all columns is screened with one
float32 matrix product on features centred on a common mean, d^2 = ||a||^2 + ||b||^2 - 2 a.b, together
with a rigorous bound on its rounding error (Higham, "Accuracy and Stability of Numerical Algorithms",
2nd ed., eq. (3.5): |fl(a.b) - a.b| <= gamma_D sum_i |a_i b_i| with gamma_D = D u / (1 - D u), plus the
rounding of the inputs to float32 and of the additions). A comparison the bound settles is final; the
few it cannot (a tiny fraction for real features) are recomputed in float64 as sum((a - b)^2) over the
original rows, and the (k+1)-th smallest distance is taken among float64 values only. So every decision
is either certain or made on float64 distances (relative error below (D + 2) 2^-53), whatever ``chunk``
is; a tie stays a tie, since the float64 distance is symmetric bit for bit. A block with too many
unsettled entries (e.g. near-duplicate features, whose distances are tiny next to their norms) is
screened again in float64.

Memory is bounded by the block, at most ``chunk`` rows and ``MAX_BLOCK_ENTRIES`` entries (about 10 bytes
each), plus a float32 copy of the features (and a float64 one if a float64 screen is ever needed).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from genbench.metrics._checks import MetricInputError, check_features, check_positive_int, check_same_dim

__all__ = ["DEFAULT_CHUNK", "MAX_BLOCK_ENTRIES", "Points", "BallCounts", "prepare", "kth_sq_distances",
           "count_balls", "kth_neighbour_distances", "ball_counts"]

#: rows per block; results do not depend on it, only peak memory and speed do
DEFAULT_CHUNK = 1024
#: cap on the entries of one block (rows x columns), which bounds memory for large column counts
MAX_BLOCK_ENTRIES = 1 << 24
#: smallest kth-neighbour tile side: tiny tiles cost Python overhead and start with poor running k-th values
_MIN_TILE = 32
#: unit roundoff of the two screening precisions
_UNIT = {np.float32: 2.0 ** -24, np.float64: 2.0 ** -53}
#: unsettled entries per block row beyond which the block is screened again in float64
_MAX_UNSETTLED_PER_ROW = 64
#: pairs recomputed in float64 at a time: a (pairs, D) float64 temporary that stays in cache
_PAIR_BATCH = 64


def _centred(x: np.ndarray, mean: np.ndarray, dtype: type) -> np.ndarray:
    """``x - mean`` computed in float64 and stored as ``dtype``, a few thousand rows at a time."""
    out = np.empty(x.shape, dtype=dtype)
    for start in range(0, x.shape[0], 4096):
        np.subtract(x[start:start + 4096], mean, out=out[start:start + 4096], dtype=np.float64, casting="unsafe")
    return out


class Points:
    """A feature set ready for screening: the caller's rows, plus centred float32 (and lazily float64) copies."""

    def __init__(self, features: np.ndarray, mean: np.ndarray):
        self.original = features
        self.mean = mean
        self._screens: dict[type, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.original.shape[0]

    def screen(self, dtype: type) -> tuple[np.ndarray, np.ndarray]:
        """Centred rows in ``dtype`` and their squared norms (computed in that precision)."""
        if dtype not in self._screens:
            rows = _centred(self.original, self.mean, dtype)
            self._screens[dtype] = rows, np.einsum("ij,ij->i", rows, rows)
        return self._screens[dtype]


def prepare(*feature_sets: np.ndarray) -> list[Points]:
    """``Points`` for validated (N_i, D) arrays, all centred on their common mean (distances are unchanged)."""
    total = sum(x.sum(axis=0, dtype=np.float64) for x in feature_sets)
    mean = total / sum(x.shape[0] for x in feature_sets)
    return [Points(x, mean) for x in feature_sets]


def _block_rows(chunk: int, columns: int) -> int:
    return max(1, min(chunk, MAX_BLOCK_ENTRIES // max(columns, 1)))


def _bound_coefficient(dim: int, dtype: type) -> float:
    """c such that c (||a||^2 + ||b||^2) bounds the error of a screened squared distance (centred rows).

    2 a.b is off by at most gamma_D (||a||^2 + ||b||^2), the two squared norms by as much together, the
    rounding of the inputs to ``dtype`` moves the distance by at most 4 u (...), and the two additions
    (partial sums below 2 (...)) by 4 u (...); 16 u instead of 8 u and a 1 % margin leave room for
    second-order terms and for rounding where the bound itself is used.
    """
    u = _UNIT[dtype]
    terms = dim + 2
    gamma = terms * u / (1.0 - terms * u)
    return 1.01 * (2.0 * gamma + 16.0 * u)


class _Scratch:
    """One reusable output array per block shape and dtype: a fresh block of tens of MB per product would
    be mapped and page-faulted anew each time, which costs about a third of the product itself."""

    def __init__(self) -> None:
        self._arrays: dict[tuple, np.ndarray] = {}

    def get(self, shape: tuple[int, int], dtype: type) -> np.ndarray:
        key = (shape, dtype)
        if key not in self._arrays:
            self._arrays[key] = np.empty(shape, dtype=dtype)
        return self._arrays[key]


def _screened_block(a: Points, rows: slice, b: Points, dtype: type, cols: slice = slice(None), *,
                    scratch: _Scratch | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Approximate squared distances (``rows`` of ``a``) x (``cols`` of ``b``) in ``dtype`` (in a ``scratch``
    array, valid until the next block of that shape, when one is given), and per row a bound on their
    absolute error (float64; with the largest squared norm of all of ``b``)."""
    rows_a, sq_a = a.screen(dtype)
    rows_b, sq_b = b.screen(dtype)
    left, right = rows_a[rows], rows_b[cols]
    out = scratch.get((left.shape[0], right.shape[0]), dtype) if scratch is not None else None
    d2 = np.matmul(left, right.T, out=out)
    d2 *= -2.0
    d2 += sq_a[rows, None]
    d2 += sq_b[None, cols]
    coefficient = _bound_coefficient(rows_a.shape[1], dtype)
    return d2, coefficient * (sq_a[rows].astype(np.float64) + float(sq_b.max()))


def _start_dtype(dim: int) -> type:
    # float32 screening is pointless once gamma_D is large (about 1e-2 at D = 1.7e5)
    return np.float32 if dim * _UNIT[np.float32] < 1e-2 else np.float64


def _exact_sq(a: np.ndarray, ia: np.ndarray, b: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """float64 sum((a[ia] - b[ib])^2) per pair; symmetric bit for bit, so a tie stays a tie."""
    out = np.empty(ia.shape[0], dtype=np.float64)
    for start in range(0, ia.shape[0], _PAIR_BATCH):
        stop = start + _PAIR_BATCH
        diff = np.subtract(a[ia[start:stop]], b[ib[start:stop]], dtype=np.float64)
        out[start:stop] = np.einsum("ij,ij->i", diff, diff)
    return out


def _where(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a C-ordered 2-D mask: flat indices split into (row, col), an order of magnitude
    faster for sparse masks (2-D ``nonzero`` walks the array index by index)."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def _round(values: np.ndarray, dtype: type, direction: float) -> np.ndarray:
    """float64 ``values`` in ``dtype``, rounded towards ``direction`` (+inf or -inf)."""
    cast = values.astype(dtype)
    return np.nextafter(cast, dtype(direction)) if dtype is not np.float64 else cast


class _TooManyCandidates(Exception):
    """The float32 screen leaves too much undecided (near-duplicate features): screen in float64 instead."""


class _Candidates:
    """Entries (row, column, screened value) that may be among their row's k+1 smallest.

    Each row keeps the k+1 smallest screened values seen so far; that running k-th value V only falls as
    columns arrive. The true (k+1)-th smallest T satisfies T <= V_final + bound, and an entry with true value
    t <= T has screened value s <= t + bound, so s <= V_final + 2 bound <= V + 2 bound at any time: testing
    against the running V never drops an entry that the final one would keep.
    """

    def __init__(self, n: int, k: int, bound: np.ndarray, dtype: type):
        self.k, self.bound, self.dtype = k, bound, dtype
        self.best = np.full((n, k + 1), np.inf, dtype=dtype)
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.size = 0
        self.cap = n * (k + 1 + _MAX_UNSETTLED_PER_ROW) * 8

    def limit(self, owners) -> np.ndarray:
        return _round(self.best[owners, self.k].astype(np.float64) + 2.0 * self.bound[owners], self.dtype, np.inf)

    def visit_full(self, rows: slice, values: np.ndarray, col_start: int) -> None:
        """A tile (rows, columns col_start...) whose rows have no running k-th value yet (a diagonal tile)."""
        merged = np.concatenate([self.best[rows], values], axis=1)  # the infs pad a tile narrower than k+1
        self.best[rows] = np.partition(merged, self.k, axis=1)[:, :self.k + 1]
        row, col = _where(values <= self.limit(rows)[:, None])
        self._keep(row + rows.start, col + col_start, values[row, col])

    def visit_rows(self, rows: slice, values: np.ndarray, col_start: int) -> None:
        """A tile (rows, columns col_start...), read by its rows."""
        row, col = _where(values <= self.limit(rows)[:, None])
        self._merge(row + rows.start, col + col_start, values[row, col])

    def visit_columns(self, cols: slice, values: np.ndarray, row_start: int) -> None:
        """A tile (rows row_start..., cols), read by its columns: the entries of the symmetric other half."""
        row, col = _where(values <= self.limit(cols)[None, :])
        self._merge(col + cols.start, row + row_start, values[row, col])

    def _merge(self, owner: np.ndarray, other: np.ndarray, values: np.ndarray) -> None:
        """Fold the entries below their owners' limits into the running k+1 smallest, then keep them.

        Only these entries can lower a k-th value (the limit is above it), and a tile leaves a few per row,
        so sorting them with their owners' current k+1 values costs far less than partitioning the tile.
        """
        if owner.size:
            owners = np.unique(owner)
            width = self.k + 1
            pooled_owner = np.concatenate([np.repeat(owners, width), owner])
            pooled = np.concatenate([self.best[owners].ravel(), values])
            order = np.lexsort((pooled, pooled_owner))
            sizes = np.bincount(np.searchsorted(owners, pooled_owner), minlength=owners.size)
            starts = np.cumsum(sizes) - sizes
            self.best[owners] = pooled[order][starts[:, None] + np.arange(width)]
        self._keep(owner, other, values)

    def _keep(self, owner: np.ndarray, other: np.ndarray, values: np.ndarray) -> None:
        self.parts.append((owner, other, values))
        self.size += owner.size
        if self.size > self.cap:
            self.prune()
            if self.size > self.cap and self.dtype is np.float32:
                raise _TooManyCandidates

    def prune(self) -> tuple[np.ndarray, np.ndarray]:
        row, col, value = (np.concatenate(part) for part in zip(*self.parts))
        keep = value <= self.limit(row)
        row, col, value = row[keep], col[keep], value[keep]
        self.parts, self.size = [(row, col, value)], row.size
        return row, col


def _kth_tiles(x: Points, k: int, tile: int, dtype: type) -> np.ndarray:
    """(k+1)-th smallest squared distance of each row (self included, exactly 0), from tiles of the
    symmetric distance matrix: each off-diagonal tile is computed once and read by its rows and columns."""
    n = len(x)
    _, sq = x.screen(dtype)
    bound = _bound_coefficient(x.original.shape[1], dtype) * (sq.astype(np.float64) + float(sq.max()))
    candidates = _Candidates(n, k, bound, dtype)
    scratch = _Scratch()
    blocks = [slice(start, min(start + tile, n)) for start in range(0, n, tile)]
    for block in blocks:  # diagonal tiles first, so that every running k-th value starts from a full tile
        d2, _ = _screened_block(x, block, x, dtype, block, scratch=scratch)
        np.fill_diagonal(d2, 0.0)  # the point itself, exactly
        candidates.visit_full(block, d2, block.start)
    for i, rows in enumerate(blocks):
        for cols in blocks[i + 1:]:
            d2, _ = _screened_block(x, rows, x, dtype, cols, scratch=scratch)
            candidates.visit_rows(rows, d2, cols.start)
            candidates.visit_columns(cols, d2, rows.start)
    row, col = candidates.prune()
    if dtype is np.float32 and row.size > n * (k + 1 + _MAX_UNSETTLED_PER_ROW):
        raise _TooManyCandidates
    exact = _exact_sq(x.original, row, x.original, col)
    order = np.lexsort((exact, row))  # grouped by row, ascending within; every row has >= k+1 entries
    counts = np.bincount(row, minlength=n)
    return exact[order][np.cumsum(counts) - counts + k]


def kth_sq_distances(x: Points, k: int, *, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Squared distance from each row to its k-th nearest other row (float64, shape (N,)).

    As in the references (``kthvalue(k + 1)`` of a row that includes the point itself), the self-distance
    is one of the row's entries, exactly 0, so a duplicate of the point is a neighbour at distance 0.
    Tiles are ``chunk`` x ``chunk`` (at least ``_MIN_TILE``, at most ``MAX_BLOCK_ENTRIES`` entries).
    """
    tile = max(_MIN_TILE, min(chunk, int(MAX_BLOCK_ENTRIES ** 0.5)))
    try:
        return _kth_tiles(x, k, tile, _start_dtype(x.original.shape[1]))
    except _TooManyCandidates:
        return _kth_tiles(x, k, tile, np.float64)


class BallCounts(NamedTuple):
    """Counts of ``count_balls``: int64 arrays over probes (M,) or centres (N,)."""

    per_probe: np.ndarray  #: balls around centres that contain each probe
    per_centre: np.ndarray  #: probes inside each centre's ball
    centres_in_probe_balls: np.ndarray | None  #: balls around probes that contain each centre, if asked


def _settle(d2: np.ndarray, slack: float, threshold: np.ndarray, axis: int):
    """Entries certainly below ``threshold`` (float64; per column for axis=1, per row for axis=0) and the
    (row, col) pairs the screen cannot decide: screened values within ``slack`` of the threshold."""
    dtype = d2.dtype.type
    low = _round(threshold - slack, dtype, -np.inf)
    high = _round(threshold + slack, dtype, np.inf)
    low, high = (low[None, :], high[None, :]) if axis == 1 else (low[:, None], high[:, None])
    inside = d2 < low
    undecided = d2 <= high
    undecided ^= inside  # inside implies <= high
    row, col = _where(undecided)
    return inside, row, col


def _ball_block(probes: Points, rows: slice, centres: Points, tasks: list, inclusive: bool, exact_counts: bool,
                dtype: type, scratch: _Scratch):
    """Per task (threshold, axis, side that must be exact) the (per-row, per-column) counts of one block."""
    d2, bound = _screened_block(probes, rows, centres, dtype, scratch=scratch)
    slack = float(bound.max())  # one number per block: a single comparison per entry
    settled = []
    for threshold, axis, side in tasks:
        inside, row, col = _settle(d2, slack, threshold, axis)
        counts = np.count_nonzero(inside, axis=1), np.count_nonzero(inside, axis=0)
        if not exact_counts:  # only hit / no hit matters: skip pairs whose row (or column) already has a hit
            keep = counts[0][row] == 0 if side == "rows" else counts[1][col] == 0
            row, col = row[keep], col[keep]
        settled.append((counts, row, col))
    if dtype is np.float32 and sum(row.size for _, row, _ in settled) > d2.shape[0] * _MAX_UNSETTLED_PER_ROW:
        return None
    compare = np.less_equal if inclusive else np.less
    out = []
    for (threshold, axis, _), ((per_row, per_col), row, col) in zip(tasks, settled):
        exact = _exact_sq(probes.original, rows.start + row, centres.original, col)
        hit = compare(exact, threshold[col] if axis == 1 else threshold[row])
        out.append((per_row + np.bincount(row[hit], minlength=d2.shape[0]),
                    per_col + np.bincount(col[hit], minlength=d2.shape[1])))
    return out


def count_balls(probes: Points, centres: Points, centre_r2: np.ndarray, *, probe_r2: np.ndarray | None = None,
                inclusive: bool, exact_counts: bool = True, chunk: int = DEFAULT_CHUNK) -> BallCounts:
    """Which probes lie in which balls B(centre_j, sqrt(centre_r2_j)); with ``probe_r2`` also which centres
    lie in the balls around the probes, from the same distance blocks. ``inclusive``: the boundary is inside.

    ``exact_counts=False`` is for precision and recall, which only ask whether a count is zero: then only
    ``per_probe > 0`` and ``centres_in_probe_balls > 0`` are exact (the counts are lower bounds), and
    undecided pairs of a probe (or centre) that already has a certain hit are not recomputed.
    """
    n_probes, n_centres = len(probes), len(centres)
    per_probe = np.empty(n_probes, dtype=np.int64)
    per_centre = np.zeros(n_centres, dtype=np.int64)
    centres_in = np.zeros(n_centres, dtype=np.int64) if probe_r2 is not None else None
    step = _block_rows(chunk, n_centres)
    first = _start_dtype(probes.original.shape[1])
    scratch = _Scratch()
    for start in range(0, n_probes, step):
        rows = slice(start, min(start + step, n_probes))
        tasks = [(centre_r2, 1, "rows")] + ([(probe_r2[rows], 0, "cols")] if probe_r2 is not None else [])
        block = _ball_block(probes, rows, centres, tasks, inclusive, exact_counts, first, scratch)
        if block is None:
            block = _ball_block(probes, rows, centres, tasks, inclusive, exact_counts, np.float64, scratch)
        per_probe[rows], in_centre = block[0]
        per_centre += in_centre
        if centres_in is not None:
            centres_in += block[1][1]
    return BallCounts(per_probe, per_centre, centres_in)


def kth_neighbour_distances(x: np.ndarray, k: int, *, chunk: int = DEFAULT_CHUNK) -> np.ndarray:
    """Distance from each row of ``x`` (N, D) to its k-th nearest other row, shape (N,), float64."""
    k = check_positive_int(k, "k")
    chunk = check_positive_int(chunk, "chunk")
    x = check_features(x, "features", min_samples=k + 1, purpose=f"the k-th nearest neighbour (k={k})")
    (points,) = prepare(x)
    return np.sqrt(kth_sq_distances(points, k, chunk=chunk))


def ball_counts(probes: np.ndarray, centres: np.ndarray, radii: np.ndarray, *, chunk: int = DEFAULT_CHUNK,
                inclusive: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Which probes fall into which balls B(centre_j, radii_j); boundary inside unless ``inclusive=False``.

    Returns ``(per_probe, per_centre)``: for each probe the number of balls containing it (M,), and for
    each centre the number of probes inside its ball (N,), both int64.
    """
    chunk = check_positive_int(chunk, "chunk")
    probes = check_features(probes, "probes", min_samples=1, purpose="ball counts")
    centres = check_features(centres, "centres", min_samples=1, purpose="ball counts")
    check_same_dim(centres, probes)
    radii = np.asarray(radii, dtype=np.float64)
    if radii.shape != (centres.shape[0],) or not np.isfinite(radii).all() or (radii < 0).any():
        raise MetricInputError(f"radii: expected one finite, non-negative radius per centre ({centres.shape[0]}), "
                               f"got shape {radii.shape}")
    probe_points, centre_points = prepare(probes, centres)
    counts = count_balls(probe_points, centre_points, radii * radii, inclusive=inclusive, chunk=chunk)
    return counts.per_probe, counts.per_centre
