"""Rows of the experiments that optimise against the guide (steering, loss guidance): the guide's rate beside the
independent judge's, and the realism of the images (genbench.experiments.judging)."""
from __future__ import annotations

from genbench.report.tables import fmt

__all__ = ["JUDGED_HEADERS", "disagreement", "judged_cells", "judged_notes", "scoring_text"]

JUDGED_HEADERS = ["guide rate", "judge rate", "FD ↓", "precision ↑"]


def disagreement(row: dict, *, threshold: float = 0.1) -> str:
    """"judge 47% vs guide 67%" where the judge confirms at least ``threshold`` less than the guide reports, else ""."""
    if row["guide_rate"] - row["judge_rate"] < threshold:
        return ""
    return f"judge {row['judge_rate']:.0%} vs guide {row['guide_rate']:.0%}"


def judged_cells(row: dict) -> list[str]:
    return [fmt(row["guide_rate"], 3), fmt(row["judge_rate"], 3), fmt(row["fd_domain"]), fmt(row["precision_domain"], 3)]


def judged_notes(records: list[dict], setting: str) -> str:
    """The section's sentence on the rows where the judge confirms clearly less than the guide reports ("" if none)."""
    notes = [f"{record['preset']} at {setting} {fmt(row[setting])}: {note}" for record in records
             for row in record["rows"] if (note := disagreement(row))]
    if not notes:
        return ""
    return ("\n\nWhere guide and judge disagree (the judge confirms 10 points or more less than the guide reports: that "
            "part of the guide's rate is the guide fooled, not the image changing class): " + "; ".join(notes) + ".")


def scoring_text(record: dict, images: str) -> str:
    """How the rows were measured, for the section's text."""
    scoring = record["scoring"]
    return (f"Guide rate: the fraction of {images} the guide (the network pushed against) labels as the target; "
            "judge rate: the same by the judge, another architecture trained on the other half of the train split, "
            f"never optimised against. FD and precision (k {scoring['pr_k']}) of all targets' images together against "
            f"{scoring['n_real']} test images in the domain classifier's features.")
