"""The experiment jobs: checkpoint (+ domain classifier, data) in, JSON and PNG files out, written atomically.

The JSON record is written last: it is the file Snakemake waits for, and it names the PNGs beside it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from genbench import metrics
from genbench.config import DomainConfig, ExperimentsConfig, SamplerConfig
from genbench.data import load_split, seeded_subset
from genbench.device import resolve_device, set_threads
from genbench.errors import ConfigError
from genbench.experiments import augmentation, loss_guidance, probe, sdedit, steering, stylegan_figures, walks
from genbench.experiments.judging import Scorers, ScoringFiles
from genbench.features import domain
from genbench.features.domain import load_classifier
from genbench.images import save_grid
from genbench.io import load_npz, sha256_file, write_json
from genbench.models import build_model
from genbench.train.checkpoint import load_for_sampling
from genbench.images import to_uint8

__all__ = ["run_walks_job", "run_steering_job", "run_probe_job", "run_augmentation_job", "run_loss_guidance_job",
           "run_sdedit_job", "run_style_transfer_job", "run_stylegan_figures_job"]


def _identity(checkpoint: Path, run_cfg) -> dict:
    return {"dataset": run_cfg.dataset, "preset": run_cfg.preset, "family": run_cfg.spec.family,
            "seed": run_cfg.seed, "checkpoint": str(checkpoint)}


def run_walks_job(checkpoint: Path, *, device: str, threads: int, out: Path) -> dict:
    set_threads(threads)
    model, run_cfg = load_for_sampling(checkpoint, resolve_device(device))
    written = walks.run_walks(model, out.parent, seed=run_cfg.seed)
    record = {**_identity(checkpoint, run_cfg), "figures": [path.name for path in written],
              "interpolation": "slerp (White 2016)", "label_kind": model.label_kind}
    write_json(out, record)
    return record


def run_stylegan_figures_job(checkpoint: Path, cfg: ExperimentsConfig, *, device: str, threads: int,
                             out: Path) -> dict:
    """StyleGAN's Figure 3 (style mixing, ``style_mixing.png``) and Figure 4 (stochastic variation,
    ``stochastic_variation.png``) from seeded w's, with how far each style range moves source A and how much
    the noise moves each pixel (grey levels, 0-255)."""
    set_threads(threads)
    model, run_cfg = load_for_sampling(checkpoint, resolve_device(device))
    settings, figures = cfg.stylegan_figures, stylegan_figures
    ranges = figures.style_ranges(model)
    generator = torch.Generator().manual_seed(run_cfg.seed)
    w_a, w_b, w_noise = (figures.draw_ws(model, n, generator=generator)
                         for n in (settings.sources, settings.sources, settings.latents))
    unmixed = figures.style_mixing_grid(model, w_a, w_b, [(), tuple(range(model.generator.synthesis.num_ws))],
                                        noise_seed=run_cfg.seed)
    images_a, images_b = unmixed[0][:, 0], unmixed[1][0]
    mixed = figures.style_mixing_grid(model, w_a, w_b, list(ranges.values()), noise_seed=run_cfg.seed)
    save_grid(figures.mixing_figure(images_a, images_b, mixed), out.parent / "style_mixing.png",
              nrow=settings.sources + 1)
    images, std = figures.stochastic_variation(model, w_noise, settings.draws, generator=generator)
    tiles, std_scale = figures.variation_figure(images, std, shown=settings.shown)
    save_grid(tiles, out.parent / "stochastic_variation.png", nrow=settings.shown + 1)
    change = figures.mixing_change(mixed, images_a)
    record = {**_identity(checkpoint, run_cfg), "psi": 1.0, "sources": settings.sources,
              "latents": settings.latents, "draws": settings.draws, "shown": settings.shown,
              "ranges": [{"name": name, "layers": list(layers), "mean_abs_change": value,
                          "sides": sorted({model.generator.synthesis.sides[i] for i in layers})}
                         for (name, layers), value in zip(ranges.items(), change)],  # a list: the figure's order
              "mean_abs_a_to_b": figures.mixing_change(unmixed[1:], images_a)[0],
              "noise": {**figures.noise_std_summary(images, std), "figure_white_at": std_scale},
              "units": "grey levels (0-255)", "foreground": "mean image over the draws above 64 of 255",
              "figures": ["style_mixing.png", "stochastic_variation.png"]}
    write_json(out, record)
    return record


def run_steering_job(checkpoint: Path, scoring: ScoringFiles, cfg: ExperimentsConfig, *, pr_k: int, device: str,
                     threads: int, out: Path) -> dict:
    """Every class as the target of latent steering by the guide (n latents each); scored by guide and judge, with
    realism, before and after the steps."""
    set_threads(threads)
    dev = resolve_device(device)
    model, run_cfg = load_for_sampling(checkpoint, dev)
    scorers = Scorers.load(scoring, device=dev)
    settings = cfg.steering
    results = steering.steering_matrix(model, scorers.guide, n=settings.n, steps=settings.steps,
                                       step_size=settings.step_size, seed=run_cfg.seed)
    steered = [to_uint8(torch.from_numpy(r.images)) for r in results]
    unsteered = [to_uint8(torch.from_numpy(r.start_images)) for r in results]  # the same latents, 0 steps
    rows = [{"steps": 0, **scorers.score(unsteered, pr_k=pr_k)},
            {"steps": settings.steps, **scorers.score(steered, pr_k=pr_k)}]
    # One row per target: the first 10 steered images, so a row shows where the push went.
    save_grid(np.concatenate([images[:10] for images in steered]), out.with_suffix(".png"),
              nrow=min(10, settings.n))
    record = {**_identity(checkpoint, run_cfg), "n": settings.n, "steps": settings.steps,
              "step_size": settings.step_size, "guided_by": "guide", "scoring": {**scorers.protocol, "pr_k": pr_k},
              "targets": [r.target for r in results], "rows": rows,
              "p_target_before": [float(r.before[r.target]) for r in results],
              "p_target_after": [float(r.after[r.target]) for r in results],
              "delta": [(r.after - r.before).tolist() for r in results], "figure": out.with_suffix(".png").name}
    write_json(out, record)
    return record


def run_probe_job(checkpoint: Path, data_dir: Path, cfg: ExperimentsConfig, *, device: str, threads: int,
                  out: Path) -> dict:
    set_threads(threads)
    dev = resolve_device(device)
    trained, run_cfg = load_for_sampling(checkpoint, dev)
    torch.manual_seed(run_cfg.seed)
    untrained = build_model(run_cfg.spec.family, dict(run_cfg.spec.model), trained.image, source=str(checkpoint))
    untrained = untrained.to(dev).eval()
    (train_x, train_y), (test_x, test_y) = load_split(data_dir, "train"), load_split(data_dir, "test")
    train_idx = seeded_subset(len(train_x), cfg.probe.n_train, run_cfg.seed)
    test_idx = seeded_subset(len(test_x), cfg.probe.n_test, run_cfg.seed)
    accuracy = {}
    for name, model in (("trained", trained), ("untrained", untrained)):
        features_train = probe.discriminator_features(model, train_x[train_idx])
        features_test = probe.discriminator_features(model, test_x[test_idx])
        accuracy[name] = probe.linear_probe_accuracy(features_train, train_y[train_idx], features_test,
                                                     test_y[test_idx])
    record = {**_identity(checkpoint, run_cfg), "trained_accuracy": accuracy["trained"],
              "untrained_accuracy": accuracy["untrained"], "feature_dim": int(features_train.shape[1]),
              "n_train": int(len(train_idx)), "n_test": int(len(test_idx)),
              "probe": "softmax regression, standardised features, L-BFGS, L2 1e-4"}
    write_json(out, record)
    return record


def run_augmentation_job(checkpoint: Path, data_dir: Path, cfg: ExperimentsConfig, domain: DomainConfig, *,
                         device: str, threads: int, out: Path) -> dict:
    set_threads(threads)
    dev = resolve_device(device)
    model, run_cfg = load_for_sampling(checkpoint, dev)
    settings = cfg.augmentation
    train_x, train_y = load_split(data_dir, "train")
    keep = seeded_subset(len(train_x), settings.n_train, run_cfg.seed)
    rows = augmentation.accuracy_by_p_real(
        model, (train_x[keep], train_y[keep]), load_split(data_dir, "test"), p_values=settings.p_real,
        n=len(keep), classifier=replace(domain, epochs=settings.epochs), device=dev, seed=run_cfg.seed)
    record = {**_identity(checkpoint, run_cfg), "rows": rows,
              "classifier": "domain-classifier architecture and recipe (genbench.features.domain)"}
    write_json(out, record)
    return record


def run_loss_guidance_job(checkpoint: Path, scoring: ScoringFiles, cfg: ExperimentsConfig, *, pr_k: int,
                          device: str, threads: int, out: Path) -> dict:
    """Every class as the target of -log p(target | x0_hat) guidance by the guide at each scale, scored by guide and
    judge, with the realism of all targets' images (scale 0 = unguided: rates about 1 / classes)."""
    set_threads(threads)
    dev = resolve_device(device)
    model, run_cfg = load_for_sampling(checkpoint, dev)
    scorers = Scorers.load(scoring, device=dev)
    guide = scorers.guide
    for parameter in (*model.parameters(), *guide.parameters()):
        parameter.requires_grad_(False)  # gradients w.r.t. x_t only
    settings = cfg.loss_guidance
    sampler = SamplerConfig(algo="ddim", steps=settings.steps)
    rows, grid_rows = [], []
    for scale in settings.scales:
        images_by_target = []
        for target in range(guide.head.out_features):
            # Each target its own starting noise, the same at every scale: the targets' images together are then
            # distinct draws (one noise for all would repeat the unguided images, and FD would measure that).
            generator = torch.Generator().manual_seed(run_cfg.seed * 10_000 + target)
            images = loss_guidance.guided_sample(model, loss_guidance.class_loss(guide, target), settings.n,
                                                 scale=scale, sampler=sampler, generator=generator)
            images_by_target.append(to_uint8(images.cpu()))
        rows.append({"scale": scale, **scorers.score(images_by_target, pr_k=pr_k)})
        if scale == max(settings.scales):
            grid_rows = [images[:10] for images in images_by_target]
    save_grid(np.concatenate(grid_rows), out.with_suffix(".png"), nrow=min(10, settings.n))
    record = {**_identity(checkpoint, run_cfg), "n": settings.n, "steps": settings.steps, "sampler": "ddim eta 0",
              "loss": "-log p(target | x0_hat) under the guide", "scoring": {**scorers.protocol, "pr_k": pr_k},
              "rows": rows, "figure": out.with_suffix(".png").name}
    write_json(out, record)
    return record


def run_sdedit_job(checkpoint: Path, data_dir: Path, classifier_file: Path, reference: Path, cfg: ExperimentsConfig,
                   *, device: str, threads: int, out: Path) -> dict:
    """Seeded train images edited at each strength: structure kept (SSIM, domain-feature distance and label
    kept, against the input) against realism (FD to the test reference in domain features)."""
    set_threads(threads)
    dev = resolve_device(device)
    model, run_cfg = load_for_sampling(checkpoint, dev)
    classifier, _ = load_classifier(classifier_file, device=dev)
    settings = cfg.sdedit
    train_x, train_y = load_split(data_dir, "train")
    keep = seeded_subset(len(train_x), settings.n, run_cfg.seed)
    inputs, labels = train_x[keep], train_y[keep]
    real = load_npz(reference, required=("features",))["features"]
    input_features, _ = domain.extract(classifier, inputs, batch_size=250, device=dev)
    sampler = SamplerConfig(algo="ddim", steps=settings.steps)
    x0 = torch.from_numpy(inputs).float().div(127.5).sub(1.0).to(dev)
    rows = [{"strength": 0.0, "ssim": 1.0, "feature_distance": 0.0, "label_kept": 1.0,
             "fd_domain": metrics.frechet_distance(real, input_features)}]  # the inputs themselves: real vs real
    grid_rows = [inputs[:10]]
    for strength in settings.strengths:
        with torch.no_grad():
            edited = to_uint8(sdedit.sdedit(model, x0, strength=strength, sampler=sampler,
                                            generator=torch.Generator().manual_seed(run_cfg.seed)).cpu())
        features, logits = domain.extract(classifier, edited, batch_size=250, device=dev)
        rows.append({"strength": strength, "ssim": float(metrics.ssim(inputs, edited).mean()),
                     "feature_distance": float(np.linalg.norm(features - input_features, axis=1).mean()),
                     "label_kept": float((logits.argmax(axis=1) == labels).mean()),
                     "fd_domain": metrics.frechet_distance(real, features)})
        grid_rows.append(edited[:10])
    save_grid(np.concatenate(grid_rows), out.with_suffix(".png"), nrow=min(10, settings.n))
    record = {**_identity(checkpoint, run_cfg), "n": settings.n, "steps_at_strength_1": settings.steps,
              "sampler": "ddim eta 0", "inputs": "seeded train subset", "n_real": int(len(real)),
              "classifier_sha256": sha256_file(classifier_file), "rows": rows, "figure": out.with_suffix(".png").name}
    write_json(out, record)
    return record


def run_style_transfer_job(cfg: ExperimentsConfig, vgg_file: Path, *, device: str, threads: int, out: Path,
                           cache_dir: Path = Path(".cache/downloads")) -> dict:
    """Every (content, style) pair of ``cfg.style_transfer``: a grid (rows: content, then its restylings;
    first row: the styles) and per pair the losses and seconds."""
    from genbench.data import photos
    from genbench.experiments.style_transfer import StyleTransferConfig, transfer_style
    from genbench.features.vgg import load_vgg16

    set_threads(threads)
    st = cfg.style_transfer
    unknown = [n for n in (*st.contents, *st.styles) if n not in photos.PHOTO_MEMBERS]
    if unknown:
        raise ConfigError(f"experiments.style_transfer: unknown photo '{unknown[0]}' "
                          f"(known: {', '.join(sorted(photos.PHOTO_MEMBERS))})")
    images = {name: _square(image, st.size)
              for name, image in photos.read_photos(tuple(dict.fromkeys((*st.contents, *st.styles))),
                                                     photos.fetch_sources(cache_dir)).items()}
    vgg = load_vgg16(vgg_file, device=resolve_device(device))
    algo = StyleTransferConfig(steps=st.steps, size=st.size, style_weight=st.style_weight)
    blank = np.zeros((3, st.size, st.size), np.uint8)
    tiles, rows = [blank, *(images[s] for s in st.styles)], []
    for content in st.contents:
        tiles.append(images[content])
        for style in st.styles:
            result, record = transfer_style(images[content], images[style], vgg, algo, seed=0)
            tiles.append(result)
            final = record["final"]
            rows.append({"content": content, "style": style, "seconds": record["seconds"],
                         "content_loss": final["content"], "style_loss": final["style"], "total_loss": final["total"]})
    figure = out.with_suffix(".png")
    save_grid(np.stack(tiles), figure, nrow=1 + len(st.styles))
    result = {"experiment": "style_transfer", "config": {**dataclasses.asdict(algo)}, "rows": rows,
              "seconds_per_image": float(np.mean([r["seconds"] for r in rows])), "figure": figure.name,
              "vgg16_sha256": sha256_file(vgg_file),
              "grid": "first row: the styles; then per content photo: the photo and its restylings"}
    write_json(out, result)
    return result


def _square(image_hwc: np.ndarray, size: int) -> np.ndarray:
    """uint8 (3, size, size): the largest centred square, resized with PIL bicubic."""
    from PIL import Image

    h, w, _ = image_hwc.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(image_hwc[top:top + side, left:left + side]).resize((size, size), Image.BICUBIC)
    return np.asarray(crop).transpose(2, 0, 1).copy()
