"""FD over training steps: a model's milestone weights (``milestones.pt``, ``train.curve_points``) and its
final ones, each sampled with the preset's main sampler setting and measured against the evaluation's
domain reference features (FD, and precision/recall with k ``pr_k``). Writes ``training_curve/<sampler>.json``:
one point per step, with the protocol.

Every point draws the same ``n_fake`` images from the same seed, so the points differ only by the weights.
The final point's images are the first ``n_fake`` of the sample job's file when that drew them the same way
(same checkpoint, seed and batch size, ``n_fake`` whole batches): those are the images drawing them again gives.
"""
from __future__ import annotations

from pathlib import Path

from genbench.config import SamplerConfig, TrainingCurveConfig, to_dict
from genbench.device import resolve_device, set_threads
from genbench.features.domain import extract, load_classifier
from genbench.io import InputError, load_npz, read_json, sha256_file, write_json
from genbench.jobs.evaluate import read_reference
from genbench.jobs.sample import draw_images
from genbench.jobs.trained_run import model_identity, read_train_summary
from genbench.metrics import frechet_distance, precision_recall
from genbench.train.checkpoint import load_for_sampling, read_checkpoint, read_milestones
from genbench.train.ema import copy_state


def run_training_curve(checkpoint: Path, milestones: Path, classifier: Path, reference: Path,
                       cfg: TrainingCurveConfig, *, sampler_name: str, sampler: SamplerConfig, reference_split: str,
                       batch_size: int, train_summary: Path, device: str, threads: int, out: Path,
                       final_samples: Path | None = None, pr_k: int = 3) -> dict:
    """The curve of the model its train job's summary names, every point drawn at its training seed."""
    set_threads(threads)
    summary = read_train_summary(train_summary)
    seed, identity = summary["seed"], model_identity(summary) | {"sampler": sampler_name}
    dev = resolve_device(device)
    model, run_cfg = load_for_sampling(checkpoint, dev)
    type(model).check_sampler(sampler, source=f"{checkpoint}: sampler '{sampler_name}'", cfg=model.cfg)
    extractor_sha = sha256_file(classifier)
    real = read_reference(reference, reference_split, extractor_sha)["features"]
    domain, _ = load_classifier(classifier, device=dev)
    if model.image.channels != domain.in_channels:
        raise InputError(f"{checkpoint}: makes {model.image.channels}-channel images, but {classifier} takes "
                         f"{domain.in_channels}: give the classifier of the model's dataset")

    final_step = int(read_checkpoint(checkpoint)["step"])
    # A copy: loading a milestone writes into the tensors that state_dict() returns.
    weights = {**read_milestones(milestones), final_step: copy_state(model.sampling_module().state_dict())}
    drawn = _drawn_alike(final_samples, checkpoint, n=cfg.n_fake, batch_size=batch_size, seed=seed)
    points = []
    for step, state in weights.items():
        if step == final_step and drawn is not None:
            images = drawn
        else:
            model.sampling_module().load_state_dict(state)
            images, _ = draw_images(model, sampler, cfg.n_fake, batch_size=batch_size, seed=seed,
                                    source=f"{milestones}: step {step}, sampler '{sampler_name}'")
        features, _ = extract(domain, images, batch_size=batch_size, device=dev)
        precision, recall = precision_recall(real, features, k=pr_k)
        points.append({"step": int(step), "fd_domain": frechet_distance(real, features),
                       "precision_domain": precision, "recall_domain": recall})
    record = {**identity, "points": points,
              "protocol": {"feature_space": "domain", "extractor_sha256": extractor_sha, "n_real": int(len(real)),
                           "n_fake": cfg.n_fake, "pr_k": pr_k, "seed": seed, "reference_split": reference_split,
                           "sampler_config": to_dict(sampler),  # two runs' curves compare only when it is equal
                           "milestones_sha256": sha256_file(milestones), "checkpoint_sha256": sha256_file(checkpoint),
                           "final_point_from": str(final_samples) if drawn is not None else "drawn"}}
    write_json(out, record)
    return record


def _drawn_alike(samples: Path | None, checkpoint: Path, *, n: int, batch_size: int, seed: int):
    """The first ``n`` images of a sample job's file if it drew them from ``checkpoint`` with this seed and batch
    size (the record beside the file says how), and ``n`` is whole batches: ``draw_images`` then makes the same
    first batches for any n (a short last batch would draw other noise: torch fills normals in blocks). Else None."""
    if samples is None or n % batch_size:
        return None
    record = read_json(samples.with_suffix(".json"))
    drawn_by = (record.get("seed"), record.get("batch_size"), record.get("checkpoint_sha256"))
    alike = drawn_by == (seed, batch_size, sha256_file(checkpoint))
    images = load_npz(samples, required=("images",))["images"]
    return images[:n] if alike and len(images) >= n else None
