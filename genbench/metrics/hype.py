"""Human real-vs-fake scores in the style of HYPE-infinity (Zhou et al., NeurIPS 2019).

People see real and generated images one at a time, in random order, with no time limit, and answer "real"
or "fake". A model's **fooling rate** is the share of its images judged real (the paper's "fakes error"),
with a Wilson score interval; **HYPE-infinity** is the balanced error rate over that model's images and the
real images of the same sessions, mean(fakes error, reals error): 50 % means people cannot tell the two
apart. Its interval is a seeded percentile bootstrap over judgements, so the same answers give the same
numbers. Pure functions of the judgements; reading the exported CSV is ``genbench.report.hype_score``.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["REAL", "hype_scores", "wilson_interval"]

REAL = "real"  # the source name of real images; every other source is a model
Z_95 = 1.959963984540054  # two-sided 95 % normal quantile


def wilson_interval(successes: int, trials: int, *, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion: stays inside [0, 1] and is sensible at 0 or n of n,
    where the normal approximation collapses to a point."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"wilson_interval: need 0 <= successes <= trials and trials > 0, got {successes}/{trials}")
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _bootstrap_balanced_error(fake_real: np.ndarray, real_fake: np.ndarray, *, resamples: int,
                              seed: int) -> tuple[float, float]:
    """95 % percentile interval of mean(fakes error, reals error), each side resampled with replacement."""
    rng = np.random.default_rng(seed)
    fakes = rng.choice(fake_real, size=(resamples, len(fake_real))).mean(axis=1)
    reals = rng.choice(real_fake, size=(resamples, len(real_fake))).mean(axis=1)
    low, high = np.percentile((fakes + reals) / 2, [2.5, 97.5])
    return float(low), float(high)


def hype_scores(sources: Sequence[str], answered_real: Sequence[bool], *, resamples: int = 2000,
                seed: int = 0) -> list[dict]:
    """One record per model (sorted by name) and one for the real images, from parallel sequences: the
    source of each judged image (``REAL`` or a model name) and whether the person answered "real".

    Model records: ``n``, ``judged_real``, ``fooling_rate`` with ``fooling_ci_low/high`` (Wilson 95 %),
    ``hype_infinity`` with ``hype_ci_low/high`` (bootstrap 95 %; NaN when no real image was judged).
    The real record has ``fooling_rate`` = share of real images judged real (the evaluators' calibration).
    """
    if len(sources) != len(answered_real):
        raise ValueError(f"hype_scores: {len(sources)} sources but {len(answered_real)} answers")
    if not len(sources):
        raise ValueError("hype_scores: no judgements")
    sources_arr = np.asarray(sources, dtype=object)
    answers = np.asarray(answered_real, dtype=bool)
    real_answers = answers[sources_arr == REAL]
    reals_error = 1.0 - real_answers.astype(float) if len(real_answers) else None
    records = []
    for name in sorted(set(sources_arr) - {REAL}):
        judged = answers[sources_arr == name]
        fooled = int(judged.sum())
        low, high = wilson_interval(fooled, len(judged))
        record = {"source": name, "n": len(judged), "judged_real": fooled, "fooling_rate": fooled / len(judged),
                  "fooling_ci_low": low, "fooling_ci_high": high,
                  "hype_infinity": math.nan, "hype_ci_low": math.nan, "hype_ci_high": math.nan}
        if reals_error is not None:
            record["hype_infinity"] = (record["fooling_rate"] + float(reals_error.mean())) / 2
            record["hype_ci_low"], record["hype_ci_high"] = _bootstrap_balanced_error(
                judged.astype(float), reals_error, resamples=resamples, seed=seed)
        records.append(record)
    if len(real_answers):
        kept = int(real_answers.sum())
        low, high = wilson_interval(kept, len(real_answers))
        records.append({"source": REAL, "n": len(real_answers), "judged_real": kept,
                        "fooling_rate": kept / len(real_answers), "fooling_ci_low": low, "fooling_ci_high": high,
                        "hype_infinity": math.nan, "hype_ci_low": math.nan, "hype_ci_high": math.nan})
    return records
