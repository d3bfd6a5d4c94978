"""Rows of the experiments that optimise against the guide (steering, loss guidance): the guide's rate beside the
independent judge's, and the realism of the images (genbench.experiments.judging)."""
from __future__ import annotations

from genbench.report.tables import fmt

__all__ = ["JUDGED_HEADERS", "disagreement", "judged_cells", "judged_notes", "scoring_text"]

JUDGED_HEADERS = ["guide rate", "judge rate", "FD ↓", "precision ↑"]


def disagreement(row: dict, *, threshold: float = 0.1) -> str:
    """A sentence where the judge confirms at least ``threshold`` less of the targets than the guide reports."""
    gap = row["guide_rate"] - row["judge_rate"]
    if gap < threshold:
        return ""
    return (f"the judge confirms {row['judge_rate']:.0%} where the guide reports {row['guide_rate']:.0%}: "
            "part of the guide's rate is the guide being fooled, not the image changing class")


def judged_cells(row: dict) -> list[str]:
    return [fmt(row["guide_rate"], 3), fmt(row["judge_rate"], 3), fmt(row["fd_domain"]), fmt(row["precision_domain"], 3)]


def judged_notes(record: dict, setting: str) -> list[str]:
    """One sentence per row where the judge confirms clearly less than the guide reports."""
    return [f"{record['preset']}, {setting} {fmt(row[setting])}: {note}" for row in record["rows"]
            if (note := disagreement(row))]


def scoring_text(record: dict, images: str) -> str:
    """How the rows were measured, for the section's text."""
    scoring = record["scoring"]
    return (f"Guide rate: the fraction of {images} the guide (the network pushed against) labels as the target; "
            "judge rate: the same by the judge, another architecture trained on the other half of the train split, "
            f"never optimised against. FD and precision (k {scoring['pr_k']}) of all targets' images together against "
            f"{scoring['n_real']} test images in the domain classifier's features.")
