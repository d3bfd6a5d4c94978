"""The Snakemake wiring: lint-clean, plans the whole default DAG, and stops on a bad params key before any job."""
from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from conftest import REPO, copy_workflow, snakemake


@pytest.fixture(scope="module")
def default_dry_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess:
    """One dry run of the default profile's whole DAG, read by every test of its plan."""
    return snakemake(copy_workflow(tmp_path_factory.mktemp("wf")), "reports/all", "-n", "--cores", "8")


def planned_jobs(stdout: str) -> dict[str, int]:
    """Rule -> count from the 'Job stats' table of a dry run; the experiment rules' jobs counted by experiment."""
    table = stdout.split("Job stats:", 1)[1]
    jobs = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, flags=re.M)
            if m.group(1) not in ("total", "experiment", "profile_experiment")}
    return jobs | Counter(job_wildcards(stdout, "experiment", "profile_experiment", key="experiment"))


def job_wildcards(stdout: str, *rules: str, key: str) -> list[str]:
    """The wildcard ``key`` of each planned job of ``rules`` (each job once: the plan lists it once)."""
    jobs = re.findall(rf"^rule (?:{'|'.join(rules)}):\n(.*?)(?=^\S|\Z)", stdout, flags=re.M | re.S)
    return [re.search(rf"\b{key}=(\w+)", job).group(1) for job in jobs]


@pytest.mark.slow  # a snakemake process
def test_lint_is_clean(workflow_copy: Path) -> None:
    result = snakemake(workflow_copy, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


@pytest.mark.slow  # a snakemake process
def test_default_profile_plans_every_family_dataset_and_sampler(default_dry_run: subprocess.CompletedProcess) -> None:
    result = default_dry_run
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result.stdout)
    # 2 datasets x 12 presets, but ddpm_cond, t2i and t2i_pooled on MNIST only (preset_datasets); samplers share their preset's checkpoint: dcgan 3 (truncation sweep),
    # cgan 2, stylegan 3 (psi sweep), ddpm 12 (ddpm50 and ddim50 at n_fake; the step sweep at n 200: the first
    # 200 of those two, DDIM 10/20/100, eta 1 at 10-100, DDPM-100; no 1000-step point), ddpm_cond 6 (s 1 and 3
    # at n_fake, the guidance sweep at n 200: two of its four settings first_of those), ldm 2 (ddim50, ddpm50),
    # t2i 4 (cascade at s 1 and 3, the base stage at s 3 and the cascade's first 200 at s 3), the others 1 -> 37
    # on MNIST, 27 on Fashion-MNIST, measured by one evaluate job
    # per model (22). Walks: the nine families with
    # a latent-space generator (not pixelcnn, flow, the diffusion models; test_walks_are_those_the_docs_name).
    # Image-to-image: pix2pix and cyclegan on mnist_m (its own classifier, reference and segmenter), srresnet
    # and srgan on photo_patches (no domain network): 4 trains, 5 translations (cyclegan both ways); VGG16 and
    # LPIPS fetched once; one style transfer job. Memorisation: each generative run's first sampler (22), against
    # the train features of its dataset (2).
    # Issue 24 added wgan on both datasets (a train, sample, evaluate, walks, memorisation and curve job each),
    # ddpm_ft on Fashion-MNIST (train, its one sampler, evaluate, memorisation, curve) and one freecontrol job.
    # Issue 25 added pixelcnn and flow on both datasets (a train, evaluate and memorisation job each; pixelcnn one
    # sampler, flow two and a curve: pixelcnn's pixel-by-pixel sampling stays off the curves), a likelihood job for
    # pixelcnn, flow, vae and ddpm on each dataset (8), and munit on mnist_m (a train; forward and backward with a
    # random style and with a fixed one: 4 translations, each measured).
    # Issue 28 added a guide and a judge per dataset of the steered, guided and class-conditional models (2), walks
    # for progan and vae, StyleGAN's Figures 3 and 4 (stylegan_figures) on both datasets, and t2i_pooled on MNIST
    # (a train, the cascade at s 3 alone, an evaluate and a memorisation job; no curve).
    assert jobs == {"prepare_data": 4, "train_domain_classifier": 3, "train_judges": 2, "reference_features": 3,
                    "train": 35, "sample": 74, "evaluate": 30, "fetch_text_encoder": 1, "walks": 18, "steering": 2, "probe": 2,
                    "augmentation": 2, "loss_guidance": 2, "sdedit": 2, "freecontrol": 1, "report": 1,
                    "translate": 9, "evaluate_translation": 9, "train_segmenter": 1, "fetch_vgg16": 1, "fetch_lpips": 1,
                    "style_transfer": 1, "stylegan_figures": 2, "memorisation": 30, "train_features": 2, "training_curve": 27, "likelihood": 8}


@pytest.mark.slow  # a snakemake process
def test_train_chain_starts_first(default_dry_run: subprocess.CompletedProcess) -> None:
    """SRGAN starts from SRResNet and ddpm_ft from the MNIST ddpm (train.init_from): their train jobs carry
    priority 1 so each chain, a longest path, is not queued behind jobs that can run beside it; every other
    train 0 (the priority is a preset's: the Fashion-MNIST ddpm, no source, has it too)."""
    result = default_dry_run
    assert result.returncode == 0, result.stderr
    jobs = re.findall(r"^rule train:\n(.*?)(?=^\S|\Z)", result.stdout, flags=re.M | re.S)
    assert len(jobs) == 35
    priorities = {int(m.group(1)) if (m := re.search(r"priority: (\d+)", job)) else 0 for job in jobs}
    prioritised = {re.search(r"preset=(\w+)", job).group(1) for job in jobs if "priority: " in job}
    assert priorities == {0, 1} and prioritised == {"srresnet", "srgan", "ddpm", "ddpm_ft"}


@pytest.mark.slow  # a snakemake process
def test_walks_are_those_the_docs_name(default_dry_run: subprocess.CompletedProcess) -> None:
    """docs/families.md's `walks` bullet names the families that get walks, and every other family with why not:
    the named ones are the families of the walk jobs the default plan schedules, and those with a latent space."""
    from genbench.config import load_preset
    from genbench.models import FAMILIES, family_class

    bullet = re.search(r"^- `walks` \((.*?)\): (.*?)\n(?=- )", (REPO / "docs/families.md").read_text(),
                       flags=re.M | re.S)
    documented = set(re.findall(r"`(\w+)`", bullet.group(1)))
    without = set(re.findall(r"`(\w+)`", bullet.group(2).split("None for", 1)[1]))
    result = default_dry_run
    assert result.returncode == 0, result.stderr
    jobs = re.findall(r"^rule experiment:\n(.*?)(?=^\S|\Z)", result.stdout, flags=re.M | re.S)
    presets = {re.search(r"preset=(\w+)", job).group(1) for job in jobs if "experiment=walks" in job}
    assert {load_preset(p).family for p in presets} == documented
    assert {f for f in FAMILIES if family_class(f).has_latents()} == documented
    assert documented | without == set(FAMILIES) and not documented & without


@pytest.mark.slow  # a snakemake process
def test_misspelled_key_stops_before_any_job_naming_file_and_key(workflow_copy: Path) -> None:
    preset = workflow_copy / "params/models/dcgan.yaml"
    preset.write_text(preset.read_text().replace("batch_size:", "batch_sise:"))
    result = snakemake(workflow_copy, "reports/all", "--cores", "2")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "genbench: config error" in line]
    assert len(lines) == 1 and "params/models/dcgan.yaml" in lines[0] and "train.batch_sise" in lines[0]
    assert not (workflow_copy / "data").exists() and not (workflow_copy / "results").exists()


@pytest.mark.slow  # a snakemake process
def test_misspelled_profile_key_names_the_profile_file(workflow_copy: Path) -> None:
    profile = workflow_copy / "params/ci.yaml"
    profile.write_text(profile.read_text().replace("n_fake:", "n_fakes:"))
    result = snakemake(workflow_copy, "reports/all", "-n", "--configfile", "params/ci.yaml")
    assert result.returncode != 0
    assert "params/ci.yaml" in result.stderr and "evaluation.n_fakes" in result.stderr


LIGHT_RULES = {"fetch_inception_weights", "fetch_text_encoder", "fetch_vgg16", "fetch_lpips"}  # one verified file each


def test_every_rule_logs_and_every_heavy_one_is_benchmarked() -> None:
    rules = {}
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        rules |= dict(re.findall(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", smk.read_text(), flags=re.M))
    assert len(rules) >= 20 and LIGHT_RULES <= set(rules)
    assert [name for name, body in rules.items() if "\n    log:" not in body] == []
    assert [name for name, body in rules.items() if "\n    benchmark:" not in body and name not in LIGHT_RULES] == []
