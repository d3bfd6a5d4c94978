"""The report's "WGAN: weight clipping vs gradient penalty" section, per dataset with both families: the row pair,
the critics' weight histograms at the end of training (Gulrajani et al. 2017, Fig. 1b) and their Wasserstein
estimates beside their FD over training steps. Reads train_summary.json's ``critic_weights``, losses.csv
(through ``Results.losses``) and ``training_curve/<sampler>.json``."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from genbench.io import InputError, read_json
from genbench.report.collect import Results, run_dir
from genbench.report.experiments import Section
from genbench.images import figure_png
from genbench.report.tables import NA, fmt

__all__ = ["wgan_sections"]

PAIR = {"wgan": "WGAN (clipping)", "wgan_gp": "WGAN-GP"}
TAIL = 0.1  # the Wasserstein estimate reported: the mean over the last tenth of the logged steps


def wgan_sections(results: Results, results_root: Path) -> list[Section]:
    sections = []
    summary = results.summary
    for dataset in summary["dataset"].drop_duplicates():
        rows = summary[(summary["dataset"] == dataset) & summary["family"].isin(PAIR)]
        runs = {family: group for family, group in rows.groupby("family")}
        if set(runs) == set(PAIR):
            sections.append(_section(results, results_root, dataset, runs))
    return sections


def _section(results: Results, root: Path, dataset: str, runs: dict) -> Section:
    section = Section(
        f"WGAN: weight clipping vs gradient penalty ({dataset})",
        "The two Wasserstein GANs share the networks (critic with layer norm), the latent and the training steps; "
        "WGAN keeps its critic 1-Lipschitz by clipping every critic parameter to [-c, c] after each RMSProp step "
        "(Arjovsky et al. 2017, Algorithm 1), WGAN-GP by the gradient penalty with Adam (Gulrajani et al. 2017). "
        "'at +-c': the share of the critic's parameters within 1 % of the clip bound at the end of training; "
        f"'W estimate': the critic's real-minus-fake score, mean over the last {TAIL:.0%} of the logged steps "
        "(a clipped critic's scale is set by c, so the two columns do not compare in size, only in trend). Means "
        "over seeds; the figures show the first seed.",
        ["model", "preset", "FD (domain)", "precision", "recall", "at +-c", "W estimate", "train s"])
    histograms, curves = {}, {}
    for family, label in PAIR.items():
        group = runs[family]
        preset, seed = group["preset"].iloc[0], int(group["seed"].min())
        folder = run_dir(root, dataset, preset, seed)
        weights = _critic_weights(folder)
        losses = results.losses[(results.losses["dataset"] == dataset) & (results.losses["preset"] == preset)
                                & (results.losses["name"] == "wasserstein")]
        estimate = losses.groupby("seed")["value"].apply(lambda v: v.tail(max(1, round(TAIL * len(v)))).mean())
        at_bound = weights["fraction_at_bound"]
        section.rows.append([label, preset, fmt(group["fd_domain"].mean()), fmt(group["precision_domain"].mean(), 3),
                             fmt(group["recall_domain"].mean(), 3), NA if at_bound is None else f"{at_bound:.1%}",
                             fmt(estimate.mean(), 3) if len(estimate) else NA, fmt(group["train_seconds"].mean())])
        histograms[label] = weights
        first = losses[losses["seed"] == seed]
        curves[label] = (first["step"].tolist(), first["value"].tolist(), _fd_curve(folder, group["sampler"].iloc[0]))
    section.figures[f"wgan_critic_weights_{dataset}.png"] = _histogram_figure(histograms, dataset)
    section.figures[f"wgan_training_{dataset}.png"] = _curves_figure(curves, dataset)
    return section


def _critic_weights(folder: Path) -> dict:
    path = folder / "train_summary.json"
    weights = read_json(path).get("critic_weights")
    if not weights:
        raise InputError(f"{path}: no 'critic_weights'; re-run its train rule (the record predates them)")
    return weights


def _fd_curve(folder: Path, sampler: str) -> list[dict]:
    path = folder / "training_curve" / f"{sampler}.json"
    return read_json(path)["points"] if path.is_file() else []


def _histogram_figure(histograms: dict[str, dict], dataset: str) -> bytes:
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    for ax, (label, h) in zip(fig.subplots(1, 2), histograms.items()):
        edges = h["bin_edges"]
        ax.stairs(h["counts"], edges, fill=True, alpha=0.7)
        if h["clip"] is not None:
            for bound in (-h["clip"], h["clip"]):
                ax.axvline(bound, color="black", linestyle="--", linewidth=0.8)
        ax.set(title=f"{label}: {h['n']:,} critic parameters", xlabel="value", ylabel="count", yscale="log")
    fig.suptitle(f"Critic weights at the end of training ({dataset}); dashed: +-c")
    return figure_png(fig)


def _curves_figure(curves: dict[str, tuple], dataset: str) -> bytes:
    """Left: each critic's estimate on its own axis (a clipped critic's scale is set by c, ~100x smaller);
    right: FD over training, one axis."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    axes = [left, left.twinx()]
    for (label, (steps, values, points)), ax, color in zip(curves.items(), axes, ("tab:blue", "tab:orange")):
        ax.plot(steps, values, color=color, label=label)
        ax.set_ylabel(f"{label}: E[f(x)] - E[f(G(z))]", color=color)
        if points:
            right.plot([p["step"] for p in points], [p["fd_domain"] for p in points], marker="o", color=color,
                       label=label)
    left.set(title="the critic's Wasserstein estimate", xlabel="generator step")
    right.set(title="FD over training", xlabel="generator step", ylabel="FD (domain features)", yscale="log")
    left.grid(alpha=0.3)
    right.grid(alpha=0.3)
    right.legend(fontsize="small")
    fig.suptitle(f"WGAN vs WGAN-GP training ({dataset})")
    return figure_png(fig)
