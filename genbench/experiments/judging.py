"""How the experiments that optimise against a classifier are scored: by the guide, by an independent judge, and
for realism (genbench.features.judge says why the judge exists).

For images pushed towards target classes, ``Scorers.score`` gives the guide's and the judge's target rates (the
fraction each labels as the intended target) and, over all the images, FD and precision against the test split
in the domain feature space: a rate bought with unrealistic images shows there as a worse FD or precision.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from genbench import metrics
from genbench.features import domain
from genbench.features.judge import classify, load_judge
from genbench.io import InputError, load_npz, sha256_file

__all__ = ["SCORING_INPUTS", "ScoringFiles", "Scorers"]

#: the inputs (genbench.experiments.base.INPUTS) of an experiment scored this way
SCORING_INPUTS = ("guide", "judge", "classifier", "reference")


@dataclass(frozen=True)
class ScoringFiles:
    guide: Path  # what the experiment optimises against
    judge: Path  # what scores it
    classifier: Path  # the domain network: FD's and precision's features
    reference: Path  # its features of the test split (the reference_features rule)

    @classmethod
    def of(cls, inputs: Mapping[str, Path]) -> ScoringFiles:
        return cls(*(inputs[name] for name in SCORING_INPUTS))


@dataclass(frozen=True)
class Scorers:
    guide: nn.Module
    judge: nn.Module
    classifier: domain.DomainClassifier
    reference: np.ndarray  # (N, 128) domain features of real test images
    protocol: dict  # the files' checksums and the reference's size: how the scores were measured

    @classmethod
    def load(cls, files: ScoringFiles, *, device: torch.device) -> Scorers:
        reference = load_npz(files.reference, required=("features", "extractor_sha256"))
        classifier_sha = sha256_file(files.classifier)
        if str(reference["extractor_sha256"]) != classifier_sha:
            raise InputError(f"{files.reference}: made with another domain network than {files.classifier}; "
                             "delete it and re-run")
        guide, _ = domain.load_classifier(files.guide, device=device)
        judge, _ = load_judge(files.judge, device=device)
        classifier, _ = domain.load_classifier(files.classifier, device=device)
        protocol = {"guide_sha256": sha256_file(files.guide), "judge_sha256": sha256_file(files.judge),
                    "classifier_sha256": classifier_sha, "n_real": int(len(reference["features"])),
                    "feature_space": "domain", "reference": "test split"}
        return cls(guide, judge, classifier, reference["features"], protocol)

    def realism(self, images_uint8: np.ndarray, *, pr_k: int) -> dict[str, float]:
        """FD and precision (k ``pr_k``) of the images against the test split, domain features."""
        device = next(self.classifier.parameters()).device
        features, _ = domain.extract(self.classifier, images_uint8, batch_size=250, device=device)
        precision, _ = metrics.precision_recall(self.reference, features, k=pr_k)
        return {"fd_domain": metrics.frechet_distance(self.reference, features), "precision_domain": precision}

    def score(self, images_by_target: Sequence[np.ndarray], *, pr_k: int) -> dict:
        """Rates per target (``images_by_target[t]`` were pushed towards class t) and their means, the guide's mean
        p(target), and the realism of all the images together."""
        guide, judge, p_target = [], [], []
        for target, images in enumerate(images_by_target):
            guide_p, judge_p = classify(self.guide, images), classify(self.judge, images)
            guide.append(float((guide_p.argmax(axis=1) == target).mean()))
            judge.append(float((judge_p.argmax(axis=1) == target).mean()))
            p_target.append(float(guide_p[:, target].mean()))
        return {"guide_rate": float(np.mean(guide)), "judge_rate": float(np.mean(judge)),
                "mean_p_target": float(np.mean(p_target)), "guide_rate_per_class": guide, "judge_rate_per_class": judge,
                **self.realism(np.concatenate(images_by_target), pr_k=pr_k)}

