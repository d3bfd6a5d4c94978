"""Train one preset as a profile resolves it, and measure what the GAN-zoo acceptance asks of it.

    python benchmarks/models/family_quality.py --preset wgan_gp --dataset mnist [--profile params/default.yaml]
        [--out benchmarks/results/family_quality/<dataset>_<preset>.json]

Needs data/<dataset>/ and results/<profile>/<dataset>/domain/classifier.pt (``snakemake --cores 2
results/default/mnist/domain/classifier.pt``). Reports training wall time and images/s (the profile's
torch threads), and ``fd_domain`` of the trained network against the same network untrained (same seed,
same latents, 1000 samples vs 1000 test images), plus class accuracy for conditional families and
best code-to-class accuracy for InfoGAN. Every sampler of the preset is measured. With ``--results
results/<profile>`` nothing is trained: the trained side is read from that finished pipeline run.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from genbench import metrics
from genbench.config import load_profile_file, resolve_run
from genbench.data import image_spec, load_split, seeded_subset
from genbench.device import set_threads
from genbench.features.domain import extract, load_classifier
from genbench.images import to_uint8
from genbench.jobs.train import seed_everything
from genbench.models import ImageSpec, build_model
from genbench.train.loop import fit

N = 1000


def draw(model, sampler, n: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    model.eval()
    labels = torch.arange(n) % model.num_label_values() if model.label_kind else None
    with torch.no_grad():
        images = model.sample(n, generator=torch.Generator().manual_seed(seed), sampler=sampler, labels=labels)
    return to_uint8(images), None if labels is None else labels.numpy()


def measure(model, classifier, real_features, samplers, seed: int) -> dict:
    out = {}
    for name, sampler in samplers.items():
        images, labels = draw(model, sampler, N, seed)
        features, logits = extract(classifier, images, batch_size=250, device="cpu")
        record = {"fd_domain": metrics.frechet_distance(real_features, features)}
        precision, recall = metrics.precision_recall(real_features, features, k=3)
        record |= {"precision_domain": precision, "recall_domain": recall}
        if model.label_kind == "class":
            record["class_accuracy_domain"] = metrics.class_accuracy(logits, labels)
        elif model.label_kind == "code":
            record["code_accuracy_domain"] = metrics.code_accuracy(logits, labels)[0]
        out[name] = record
    return out


def from_results(run: Path, samplers) -> tuple[dict, float, float]:
    """The pipeline's own metrics of a trained run (same protocol: 1000 samples vs the seeded 1000 test images)."""
    summary = json.loads((run / "train_summary.json").read_text())
    trained = {}
    for name in samplers:
        values = json.loads((run / "metrics" / f"{name}.json").read_text())["metrics"]
        trained[name] = {key: values[key]["value"] for key in ("fd_domain", "precision_domain", "recall_domain",
                                                                "class_accuracy_domain", "code_accuracy_domain")
                         if key in values}
    return trained, summary["train_seconds"], summary["images_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--profile", type=Path, default=Path("params/default.yaml"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--results", type=Path, help="results/<profile> of a finished run: take the trained "
                        "network's metrics from its metrics/<sampler>.json instead of training here")
    args = parser.parse_args()

    profile = load_profile_file(args.profile)
    run = resolve_run(profile, dataset=args.dataset, preset=args.preset, seed=args.seed,
                      profile_source=str(args.profile))
    set_threads(run.threads)
    data_dir = Path("data") / args.dataset
    info = image_spec(data_dir)
    image = ImageSpec(channels=info.channels, height=info.height, width=info.width, num_classes=info.num_classes)
    classifier, _ = load_classifier(Path("results") / profile.profile / args.dataset / "domain/classifier.pt",
                                    device="cpu")
    test_images, _ = load_split(data_dir, "test")
    real_features, _ = extract(classifier, test_images[seeded_subset(len(test_images), N, 12345)], batch_size=250,
                               device="cpu")

    seed_everything(args.seed)
    model = build_model(run.spec.family, dict(run.spec.model), image, source=args.preset)
    untrained = measure(model, classifier, real_features, run.spec.samplers, args.seed)
    if args.results:
        trained, seconds, speed = from_results(args.results / args.dataset / args.preset / f"seed{args.seed}",
                                               run.spec.samplers)
    else:
        model.train()
        images, labels = load_split(data_dir, "train")
        keep = seeded_subset(len(images), run.spec.train.max_train_images, args.seed)
        start = time.perf_counter()
        result = fit(model, model.training_tensors({"images": images[keep], "labels": labels[keep]}),
                     run.spec.train, seed=args.seed)
        seconds, speed = time.perf_counter() - start, result.images_per_second
        if result.ema is not None:
            model.sampling_module().load_state_dict(result.ema.state_dict())
        trained = measure(model, classifier, real_features, run.spec.samplers, args.seed)

    record = {"preset": args.preset, "family": run.spec.family, "dataset": args.dataset, "profile": str(args.profile),
              "threads": run.threads, "steps": run.spec.train.steps, "batch_size": run.spec.train.batch_size,
              "train_seconds": round(seconds, 2), "images_per_second": round(speed, 1),
              "trained_from": str(args.results) if args.results else "this script",
              "n_parameters": model.num_parameters(), "n_samples": N, "untrained": untrained, "trained": trained,
              "fd_ratio_untrained_over_trained": {name: untrained[name]["fd_domain"] / trained[name]["fd_domain"]
                                                  for name in trained}}
    out = args.out or Path("benchmarks/results/family_quality") / f"{args.dataset}_{args.preset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
