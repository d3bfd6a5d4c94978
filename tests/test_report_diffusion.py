"""The report's diffusion sections, on synthetic result files: the step sweep and the guidance sweep."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from conftest import recorded_config, recorded_kinds
from genbench.images import save_grid
from genbench.io import write_json
from genbench.report import build_report

SHA = "c" * 64
# sampler -> (algo, steps = network evaluations, eta, guidance, n, fd, class accuracy)
DDPM = {"ddim10": ("ddim", 10, 0.0, 1.0, 200, 40.0, None), "ddim50_n200": ("ddim", 50, 0.0, 1.0, 200, 30.0, None),
        "ddim10_eta1": ("ddim", 10, 1.0, 1.0, 200, 60.0, None), "ddpm": ("ddpm", 1000, 0.0, 1.0, 200, 25.0, None),
        "ddim50": ("ddim", 50, 0.0, 1.0, 1000, 20.0, None)}
# the default profile's guidance sweep: every scale at n 200 (two of them first_of the n 1000 settings)
COND = {"ddim50_s0": ("ddim", 50, 0.0, 0.0, 200, 20.0, 0.1), "ddim50_s1": ("ddim", 50, 0.0, 1.0, 1000, 22.0, 0.8),
        "ddim50_s3": ("ddim", 100, 0.0, 3.0, 1000, 30.0, 0.97),
        "ddim50_s1_n200": ("ddim", 50, 0.0, 1.0, 200, 24.0, 0.8), "ddim50_s3_n200": ("ddim", 100, 0.0, 3.0, 200, 32.0, 0.97)}


def write_run(root: Path, preset: str, samplers: dict, dataset: str = "mnist") -> None:
    run = root / dataset / preset / "seed0"
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text(recorded_config(preset))
    write_json(run / "train_summary.json", {
        "family": preset, **recorded_kinds(preset), "preset": preset, "dataset": dataset, "seed": 0, "steps": 20,
        "train_seconds": 4.2,
        "images_per_second": 300.0, "n_parameters": 12345, "device": "cpu", "mlflow_run_id": "abc"})
    (run / "losses.csv").write_text("step,name,value\n0,loss,1.0\n10,loss,0.5\n")
    for name, (algo, steps, eta, guidance, n, fd, accuracy) in samplers.items():
        write_json(run / "samples" / f"{name}.json", {
            "sampler": name, "algo": algo, "steps": steps, "eta": eta, "guidance": guidance, "n": n,
            "seconds": 1.0, "images_per_second": 1000.0 / steps})
        save_grid(np.zeros((4, 1, 8, 8), dtype=np.uint8), run / "samples" / f"{name}.png")
        np.savez(run / "samples" / f"{name}.npz", images=np.zeros((8, 1, 8, 8), dtype=np.uint8))
        protocol = {"feature_space": "domain", "extractor_sha256": SHA, "n_real": 1000, "n_fake": n,
                    "reference_split": "test"}
        metrics = {"fd_domain": {"value": fd}, "is_domain": {"value": 9.0 * (accuracy or 0.5)},
                   "precision_domain": {"value": 0.7}, "recall_domain": {"value": 0.5}}
        if accuracy is not None:
            metrics["class_accuracy_domain"] = {"value": accuracy}
        write_json(run / "metrics" / f"{name}.json", {
            "dataset": dataset, "preset": preset, "family": preset, "sampler": name, "seed": 0,
            "metrics": {k: {**v, "protocol": protocol} for k, v in metrics.items()}})


def test_step_and_guidance_sweeps_get_a_table_and_a_figure(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_json(root / "mnist/domain/classifier.json", {"test_accuracy": 0.99, "n_train": 1000, "n_test": 500,
                                                       "epochs": 1, "train_seconds": 3.0, "sha256": SHA})
    write_run(root, "ddpm", DDPM)
    write_run(root, "ddpm_cond", COND)
    out = tmp_path / "all"
    build_report(root, out, profile="test", datasets=("mnist",), presets=("ddpm", "ddpm_cond"), seeds=(0,))
    markdown = (out / "report.md").read_text()
    assert {"step_sweep_mnist_ddpm.png", "guidance_mnist_ddpm_cond.png"} <= {p.name for p in (out / "figures").iterdir()}
    sweep = markdown[markdown.index("### Sampler step sweep: mnist / ddpm"):]
    sweep = sweep[:sweep.index("\n\n", sweep.index("|---"))]
    header = next(line for line in sweep.splitlines() if line.startswith("| sampler"))
    assert header == "| sampler | 10 steps | 50 steps | 1000 steps |"
    rows = {line.split(" | ")[0].lstrip("| "): line for line in sweep.splitlines() if line.startswith("| D")}
    # one line per (algo, eta, n): rows at different n are never mixed into one line
    assert set(rows) == {"DDIM eta=0 (n=200)", "DDIM eta=1 (n=200)", "DDIM eta=0 (n=1000)", "DDPM ancestral (n=200)"}
    assert "| 40 (100/s) | 30 (20/s) |  |" in rows["DDIM eta=0 (n=200)"]
    assert rows["DDPM ancestral (n=200)"].endswith("|  |  | 25 (1/s) |")
    guidance = markdown[markdown.index("### Classifier-free guidance: mnist / ddpm_cond"):]
    lines = [line for line in guidance.splitlines() if line.startswith("| ")][:6]
    assert lines[0].startswith("| s | sampler | n | fd_domain | is_domain | class_accuracy_domain")
    # by n, then in guidance order; the figure compares the n that covers the most scales
    assert [line.split(" | ")[:3] for line in lines[1:5]] == [
        ["| 0", "ddim50_s0", "200"], ["| 1", "ddim50_s1_n200", "200"], ["| 3", "ddim50_s3_n200", "200"],
        ["| 1", "ddim50_s1", "1000"]]
    assert "the figure shows n=200" in guidance
    assert "Classifier-free guidance" not in markdown[:markdown.index("### Sampler step sweep")]  # ddpm has none
    assert "### Sampler step sweep: mnist / ddpm_cond" not in markdown  # its step counts differ only by guidance
    assert "### Pixel vs latent diffusion" not in markdown  # one unconditional diffusion family only
    # the glance: one row per model at its lowest-FD setting, conditional models apart from unconditional ones
    glance = markdown[markdown.index("## At a glance"):markdown.index("## Results")]
    unconditional, conditional = glance.split("| unconditional model |")[1].split("| conditional model |")
    assert [line.split(" | ")[:2] for line in unconditional.splitlines() if line.startswith("| ddpm")] == [
        ["| ddpm / ddim50", "20"]]
    assert conditional.startswith(" FD ↓ | precision / recall ↑ | class accuracy ↑ | train s |")
    assert [line.split(" | ")[:4] for line in conditional.splitlines() if line.startswith("| ddpm")] == [
        ["| ddpm_cond / ddim50_s0", "20", "0.7 / 0.5", "0.1"]]
    assert "![quality_cost_mnist.png](figures/quality_cost_mnist.png)" in glance and "mosaic_mnist.png" in glance


def test_pixel_and_latent_diffusion_are_compared_on_shared_samplers(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_json(root / "mnist/domain/classifier.json", {"test_accuracy": 0.99, "n_train": 1000, "n_test": 500,
                                                       "epochs": 1, "train_seconds": 3.0, "sha256": SHA})
    write_run(root, "ddpm", {"ddim50": DDPM["ddim50"], "ddim10": DDPM["ddim10"]})
    write_run(root, "ldm", {"ddim50": DDPM["ddim50"]})
    out = tmp_path / "all"
    build_report(root, out, profile="test", datasets=("mnist",), presets=("ddpm", "ldm"), seeds=(0,))
    markdown = (out / "report.md").read_text()
    section = markdown[markdown.index("### Pixel vs latent diffusion: mnist"):]
    rows = [line for line in section.splitlines() if line.startswith("| ddim")]
    assert [line.split(" | ")[1] for line in rows] == ["ddpm", "ldm"]  # ddim10 is not shared: left out


def test_loss_guidance_and_sdedit_records_get_their_sections(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_json(root / "mnist/domain/classifier.json", {"test_accuracy": 0.99, "n_train": 1000, "n_test": 500,
                                                       "epochs": 1, "train_seconds": 3.0, "sha256": SHA})
    write_run(root, "ddpm", {"ddim50": DDPM["ddim50"]})
    folder = root / "mnist/ddpm/seed0/experiments"
    identity = {"dataset": "mnist", "preset": "ddpm", "family": "ddpm", "seed": 0}
    for name in ("loss_guidance", "sdedit"):
        save_grid(np.zeros((4, 1, 8, 8), dtype=np.uint8), folder / f"{name}.png")
    scored = {"fd_domain": 20.0, "precision_domain": 0.8}
    write_json(folder / "loss_guidance.json", {
        **identity, "n": 20, "steps": 25, "figure": "loss_guidance.png", "scoring": {"pr_k": 3, "n_real": 1000},
        "rows": [{"scale": 0.0, "guide_rate": 0.1, "judge_rate": 0.1, "mean_p_target": 0.1, **scored},
                 {"scale": 3.0, "guide_rate": 0.93, "judge_rate": 0.9, "mean_p_target": 0.9, **scored},
                 {"scale": 10.0, "guide_rate": 0.99, "judge_rate": 0.41, "mean_p_target": 0.97, **scored}]})
    write_json(folder / "sdedit.json", {**identity, "n": 200, "figure": "sdedit.png", "rows": [
        {"strength": s, "ssim": 1 - s, "feature_distance": 10 * s, "label_kept": 1 - s / 2, "fd_domain": 5 + 100 * s}
        for s in (1.0, 0.0, 0.5)]})
    out = tmp_path / "all"
    build_report(root, out, profile="test", datasets=("mnist",), presets=("ddpm",), seeds=(0,))
    markdown = (out / "report.md").read_text()
    assert "| ddpm | 0 | 3 | 0.93 | 0.9 | 20 | 0.8 | 20 | 25 |" in markdown
    # the judge's 41 % against the guide's 99 % at scale 10 is stated beside the table; scale 3 (3 points) is not
    assert "ddpm at scale 10: judge 41% vs guide 99%" in markdown
    assert "at scale 3:" not in markdown
    sdedit = markdown[markdown.index("### img2img (SDEdit): mnist"):markdown.index("### Published reference numbers")]
    assert [line.split(" | ")[1] for line in sdedit.splitlines() if line.startswith("| ddpm")] == ["0", "0.5", "1"]
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {"loss_guidance_mnist_ddpm.png", "sdedit_mnist_ddpm.png", "sdedit_tradeoff_mnist_ddpm.png"} <= figures


def test_text_to_image_gets_alignment_rows_grids_and_their_captions(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_json(root / "mnist/domain/classifier.json", {"test_accuracy": 0.99, "n_train": 1000, "n_test": 500,
                                                       "epochs": 1, "train_seconds": 3.0, "sha256": SHA})
    write_run(root, "t2i", {"ddim50_s3": COND["ddim50_s3"], "base_ddim50_s3": COND["ddim50_s3"]})
    for sampler, stage in (("ddim50_s3", ""), ("base_ddim50_s3", "base")):
        path = root / "mnist/t2i/seed0/samples" / f"{sampler}.json"
        record = json.loads(path.read_text())
        write_json(path, {**record, "stage": stage, "grid_captions": [f"a photo of a {d}" for d in range(10)]})
    out = tmp_path / "all"
    build_report(root, out, profile="test", datasets=("mnist",), presets=("t2i",), seeds=(0,))
    markdown = (out / "report.md").read_text()
    section = markdown[markdown.index("### Text-to-image: mnist"):]
    # a config.yaml without model.text_conditioning: a run from before the key, the pooled model
    assert "| t2i | pooled embedding only | ddim50_s3 | cascade | 3 | 1000 | 0.97 |" in section
    assert "| t2i | pooled embedding only | base_ddim50_s3 | base | 3 | 1000 | 0.97 |" in section
    assert "first row: a photo of a 0; a photo of a 1" in section
    glance = markdown[markdown.index("## At a glance"):markdown.index("## Results")]
    assert "| text-to-image model | FD ↓ | precision / recall ↑ | caption alignment ↑ |" in glance
    assert "unconditional model" not in glance and sum(line.startswith("| t2i /") for line in glance.splitlines()) == 1
    assert {"t2i_mnist_t2i_ddim50_s3.png", "t2i_mnist_t2i_base_ddim50_s3.png"} <= {p.name for p in (out / "figures").iterdir()}


def test_text_to_image_shows_cross_attention_and_pooled_side_by_side_with_the_judge(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_json(root / "mnist/domain/classifier.json", {"test_accuracy": 0.99, "n_train": 1000, "n_test": 500,
                                                       "epochs": 1, "train_seconds": 3.0, "sha256": SHA})
    models = {"t2i": ("cross_attention", 0.97, 30.0), "t2i_pooled": (None, 0.9, 35.0)}
    for preset, (conditioning, accuracy, fd) in models.items():
        write_run(root, preset, {"ddim50_s3": ("ddim", 100, 0.0, 3.0, 1000, fd, accuracy),
                                 "base_ddim50_s3": ("ddim", 50, 0.0, 3.0, 200, fd + 10, accuracy)})
        run = root / "mnist" / preset / "seed0"
        model = {"base_channels": 16} if conditioning is None else {"text_conditioning": conditioning}
        (run / "config.yaml").write_text(yaml.safe_dump({"spec": {"family": "t2i", "model": model}}))
        for name in ("train_summary.json", "metrics/ddim50_s3.json", "metrics/base_ddim50_s3.json"):
            record = json.loads((run / name).read_text())
            if name.startswith("metrics"):
                judge = {**record["metrics"]["class_accuracy_domain"], "value": accuracy - 0.05}
                record["metrics"]["class_accuracy_judge"] = judge
            write_json(run / name, {**record, "family": "t2i", **(recorded_kinds("t2i") if name == "train_summary.json"
                                                                else {})})
        for sampler, stage in (("ddim50_s3", ""), ("base_ddim50_s3", "base")):
            path = run / "samples" / f"{sampler}.json"
            write_json(path, {**json.loads(path.read_text()), "stage": stage, "grid_captions": ["a photo of a 0"]})
    out = tmp_path / "all"
    build_report(root, out, profile="test", datasets=("mnist",), presets=tuple(models), seeds=(0,))
    markdown = (out / "report.md").read_text()
    section = markdown[markdown.index("### Text-to-image: mnist"):]
    section = section[:section.index("\n### ")]
    assert ("| model | conditions on | sampler | stage | s | n | caption alignment (domain) | caption alignment (judge) "
            "| fd_domain |") in section
    rows = [line for line in section.splitlines() if line.startswith("| t2i")]
    assert rows[:2] == ["| t2i | tokens by cross-attention + pooled | ddim50_s3 | cascade | 3 | 1000 | 0.97 | 0.92 | 30 "
                        "| 8.73 | 0.7 | 0.5 |",
                        "| t2i_pooled | pooled embedding only | ddim50_s3 | cascade | 3 | 1000 | 0.9 | 0.85 | 35 "
                        "| 8.1 | 0.7 | 0.5 |"]  # the cascade first, both models side by side; then the base stage
    assert [row.split(" | ")[2] for row in rows[2:]] == ["base_ddim50_s3"] * 2
    assert "t2i conditions on MiniLM's token embeddings, read by cross-attention" in section
    assert "t2i_pooled conditions on the pooled (mean, L2-normalised) MiniLM embedding" in section  # the key's default


def test_a_preset_restricted_to_some_datasets_is_only_read_there(tmp_path: Path) -> None:
    root = tmp_path / "results"
    for dataset in ("mnist", "fashion_mnist"):
        write_json(root / dataset / "domain/classifier.json", {"test_accuracy": 0.99, "n_train": 1000, "n_test": 500,
                                                               "epochs": 1, "train_seconds": 3.0, "sha256": SHA})
        write_run(root, "ddpm", {"ddim50": DDPM["ddim50"]}, dataset)
    write_run(root, "ddpm_cond", {"ddim50_s1": COND["ddim50_s1"]})  # MNIST only
    out = tmp_path / "all"
    build_report(root, out, profile="test", datasets=("mnist", "fashion_mnist"), presets=("ddpm", "ddpm_cond"),
                 seeds=(0,), preset_datasets={"ddpm_cond": ("mnist",)})
    summary = (out / "summary.csv").read_text().splitlines()
    assert sorted(line.split(",")[0] + "/" + line.split(",")[1] for line in summary[1:]) == [
        "fashion_mnist/ddpm", "mnist/ddpm", "mnist/ddpm_cond"]
