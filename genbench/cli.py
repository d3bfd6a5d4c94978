"""``genbench <command>``: argument parsing only; every command calls one job function.

Profile settings come either from params files (``--profile params/default.yaml [params/ci.yaml ...]``,
later files override earlier ones, as Snakemake's ``--configfile`` does) or, from Snakemake rules, as
``--settings JSON`` holding just the keys that rule depends on (so Snakemake's params trigger re-runs
a job only when a setting it uses changes).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from genbench.config import METRIC_NAMES, ProfileConfig, SamplerConfig, deep_merge, from_dict, load_profile, read_yaml
from genbench.errors import ConfigError, MetricInputError
from genbench.io import InputError


def _profile(args: argparse.Namespace) -> ProfileConfig:
    if args.settings is not None:
        try:
            data = json.loads(args.settings)
        except json.JSONDecodeError as err:
            raise ConfigError(f"--settings: not valid JSON ({err.msg})") from None
        return load_profile(data, source="--settings")
    merged: dict = {}
    for path in args.profile:
        merged = deep_merge(merged, read_yaml(path))
    return load_profile(merged, source=" + ".join(map(str, args.profile)))


def _settings_args(p: argparse.ArgumentParser, *, default_profile: tuple[Path, ...]) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--profile", nargs="+", type=Path, default=list(default_profile) or None,
                       help="params files, later ones override earlier ones (default: "
                            f"{' '.join(map(str, default_profile)) or 'none'})")
    group.add_argument("--settings", help="profile keys as JSON (what Snakemake rules pass)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: the profile's 'threads')")


def _threads(args: argparse.Namespace, profile: ProfileConfig) -> int:
    return args.threads if args.threads is not None else profile.threads


def cmd_validate(args: argparse.Namespace) -> None:
    from genbench.config.validate import validate_all
    from genbench.experiments import validate_experiments

    profile = _profile(args)
    source = " + ".join(map(str, args.profile))
    validate_experiments(profile, validate_all(profile, profile_source=source), profile_source=source)
    print(f"ok: profile '{profile.profile}': {len(profile.datasets)} datasets x {len(profile.presets)} presets "
          f"x {len(profile.seeds)} seeds")


def cmd_list(args: argparse.Namespace) -> None:
    """What can be named in params files: families (with their kind and options), experiments, extractors,
    datasets."""
    from genbench.data import DATASETS
    from genbench.experiments import registered
    from genbench.features import EXTRACTORS
    from genbench.models import FAMILIES

    print("model families:")
    for name in FAMILIES.names():
        cls = FAMILIES.get(name)
        extras = [f"labels={cls.label_kind}"] if cls.label_kind else []
        extras += [f"sampler options: {', '.join(sorted(cls.sampler_options))}"] if cls.sampler_options else []
        extras += [f"likelihood: {', '.join(cls.likelihood_estimators)}"] if cls.likelihood_estimators else []
        print(f"  {name:<10} {cls.kind or '-':<14} samplers: {', '.join(cls.sampler_algos)}"
              + "".join(f"; {extra}" for extra in extras))
    print("experiments: " + ", ".join(registered().names()))
    print("feature spaces: " + ", ".join(EXTRACTORS.names()))
    print("datasets: " + ", ".join(DATASETS.names()))


def cmd_prepare_data(args: argparse.Namespace) -> None:
    from genbench.data import prepare_dataset

    prepare_dataset(args.dataset, args.out, args.cache)


def cmd_fetch_weights(args: argparse.Namespace) -> None:
    if args.extractor == "text-encoder":
        from genbench.text import fetch_text_encoder

        print(fetch_text_encoder())
        return
    if args.extractor in ("vgg16", "lpips"):  # converted once into .cache/weights/; lpips needs the backbone too
        from genbench.features.lpips import fetch_lpips_heads
        from genbench.features.vgg import fetch_vgg16

        print(fetch_vgg16())
        if args.extractor == "lpips":
            print(fetch_lpips_heads())
        return
    if args.extractor == "inception":  # the pipeline's copy: the checkout's .cache/downloads (the rule's output)
        from genbench.features.inception import fetch_inception

        print(fetch_inception())
        return
    from genbench.features import EXTRACTORS

    print(EXTRACTORS.get(args.extractor, source="fetch-weights").default_file())


def cmd_train_domain(args: argparse.Namespace) -> None:
    from genbench.features.domain import run_domain_training

    profile = _profile(args)
    record = run_domain_training(args.data, profile.domain, device=profile.device, threads=_threads(args, profile),
                                 out=args.out)
    print(f"domain classifier {args.out}: test accuracy {record['test_accuracy']:.4f}")


def cmd_train_judges(args: argparse.Namespace) -> None:
    from genbench.features.judge import run_judges_training

    profile = _profile(args)
    record = run_judges_training(args.data, profile.judges, profile.domain, device=profile.device,
                                 threads=_threads(args, profile), guide_out=args.guide, judge_out=args.judge,
                                 record_out=args.record)
    print(f"guide {args.guide}: test accuracy {record['guide']['test_accuracy']:.4f}; judge {args.judge}: "
          f"{record['judge']['test_accuracy']:.4f}; they agree on {record['test_agreement']:.4f} of the test split")


def cmd_train_segmenter(args: argparse.Namespace) -> None:
    from genbench.features.segmentation import run_segmenter_training

    profile = _profile(args)
    record = run_segmenter_training(args.data, profile.segmenter, device=profile.device, threads=_threads(args, profile),
                                    out=args.out)
    print(f"segmenter {args.out}: test per-pixel accuracy {record['per_pixel_accuracy']:.4f}, per-class accuracy "
          f"{record['per_class_accuracy']:.4f}, mean IoU {record['class_iou']:.4f}")


def cmd_reference(args: argparse.Namespace) -> None:
    from genbench.jobs.reference import run_reference

    profile = _profile(args)
    ev = profile.evaluation
    run_reference(args.data, args.extractor_file, space=args.space, split=args.split or ev.reference_split,
                  n=args.n if args.n is not None else ev.n_real, batch_size=ev.batch_size, device=profile.device,
                  threads=_threads(args, profile), out=args.out)


def cmd_train(args: argparse.Namespace) -> None:
    from genbench.jobs.train import run_training_job

    profile = _profile(args)
    summary = run_training_job(profile, dataset=args.dataset, preset=args.preset, seed=args.seed,
                               threads=_threads(args, profile),
                               profile_source="--settings" if args.settings else str(args.profile[-1]),
                               data_dir=args.data, out_dir=args.out_dir)
    print(f"trained {args.preset} on {args.dataset}: {summary['steps']} steps in {summary['train_seconds']} s")


def _sampler_setting(args: argparse.Namespace, profile: ProfileConfig) -> SamplerConfig:
    """``--sampler-config`` (what the rules pass: the setting as the plan has it), else the setting of that name
    in the checkpoint's preset as the params files define it now: a checkpoint keeps the training recipe only."""
    if args.sampler_config is not None:
        try:
            data = json.loads(args.sampler_config)
        except json.JSONDecodeError as err:
            raise ConfigError(f"--sampler-config: not valid JSON ({err.msg})") from None
        return from_dict(SamplerConfig, data, source="--sampler-config")
    from genbench.config.validate import load_preset
    from genbench.train.checkpoint import read_run_config

    preset = read_run_config(args.checkpoint).preset
    samplers = load_preset(preset, profile.overrides.get(preset)).samplers
    if args.sampler not in samplers:
        raise ConfigError(f"params/models/{preset}.yaml: preset '{preset}' of {args.checkpoint} has no sampler "
                          f"'{args.sampler}' (its samplers: {', '.join(samplers)})")
    return samplers[args.sampler]


def cmd_sample(args: argparse.Namespace) -> None:
    from genbench.jobs.sample import run_sampling

    profile = _profile(args)
    record = run_sampling(args.checkpoint, sampler_name=args.sampler, sampler=_sampler_setting(args, profile),
                          n=profile.evaluation.n_fake,
                          batch_size=profile.evaluation.batch_size, seed=args.seed, device=profile.device,
                          threads=_threads(args, profile), out=args.out, data_dir=args.data,
                          parent_samples=args.parent_samples,
                          diversity=(profile.evaluation.diversity_inputs, profile.evaluation.diversity_styles))
    print(f"sampled {record['n']} images with '{args.sampler}' at {record['images_per_second']} images/s")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from genbench.jobs.evaluate import TaskFiles, run_evaluation_job

    profile = _profile(args)
    samplers = args.sampler or [path.stem for path in args.samples]
    outs = [args.out] if args.out else [args.out_dir / f"{name}.json" for name in samplers]
    if not len(samplers) == len(outs) == len(args.samples):
        raise ConfigError(f"evaluate: {len(args.samples)} --samples files need as many --sampler names and "
                          "--out files (or one --out-dir)")
    values = run_evaluation_job(args.samples, args.train_summary, samplers=samplers, outs=outs,
                                references=args.reference, extractor_files=args.extractor_file,
                                cfg=profile.evaluation, mlflow=profile.mlflow, device=profile.device,
                                threads=_threads(args, profile),
                                task_files=TaskFiles(data_dir=args.data, segmenter=args.segmenter, lpips=args.lpips),
                                judge_file=args.judge)
    for name, metrics in values.items():
        print(json.dumps({name: metrics}))


def cmd_memorisation(args: argparse.Namespace) -> None:
    from genbench.jobs.memorisation import run_memorisation

    profile = _profile(args)
    record = run_memorisation(args.samples, args.train_reference, args.test_reference, args.classifier, args.data,
                              profile.memorisation, n_fake=profile.evaluation.n_fake,
                              batch_size=profile.evaluation.batch_size, device=profile.device,
                              threads=_threads(args, profile), train_summary=args.train_summary,
                              sampler_name=args.sampler, out=args.out)
    print(f"memorisation {args.out}: distance ratio {record['distance_ratio']:.3f}, near-copy rate "
          f"{record['near_copy_rate']:.3f} (expected {record['quantile']:.2f} without copying)")


def cmd_training_curve(args: argparse.Namespace) -> None:
    from genbench.jobs.training_curve import run_training_curve

    profile = _profile(args)
    record = run_training_curve(args.checkpoint, args.milestones, args.classifier, args.reference,
                                profile.training_curve, sampler_name=args.sampler,
                                sampler=_sampler_setting(args, profile),
                                reference_split=profile.evaluation.reference_split,
                                batch_size=profile.evaluation.batch_size, train_summary=args.train_summary,
                                device=profile.device, threads=_threads(args, profile),
                                out=args.out, final_samples=args.samples, pr_k=profile.evaluation.pr_k)
    print(f"training curve {args.out}: " + ", ".join(f"step {p['step']} FD {p['fd_domain']:.2f}"
                                                     for p in record["points"]))


def cmd_likelihood(args: argparse.Namespace) -> None:
    from genbench.jobs.likelihood import run_likelihood_job

    profile = _profile(args)
    record = run_likelihood_job(args.checkpoint, args.data, args.train_summary, profile.likelihood,
                                mlflow=profile.mlflow, device=profile.device, threads=_threads(args, profile),
                                out=args.out)
    print(f"likelihood {args.out}: " + ", ".join(f"{name} {e['bits_per_dim']:.4f} bits/dim"
                                                 for name, e in record["estimates"].items()))


def cmd_metrics(args: argparse.Namespace) -> None:
    """Runs anywhere: without ``--profile`` it needs no params file and measures by the standard protocol."""
    from genbench.device import available_cpus
    from genbench.jobs.input_metrics import STANDARD_PROTOCOL, run_metrics

    if args.profile or args.settings:
        profile = _profile(args)
        cfg, device, threads = profile.evaluation, profile.device, _threads(args, profile)
    else:
        cfg, device, threads = STANDARD_PROTOCOL, args.device, args.threads or available_cpus()
    names = [name.strip() for name in args.metrics.split(",") if name.strip()]
    values = run_metrics(args.real, args.fake, names=names, space=args.features, extractor_file=args.extractor_file,
                         cfg=cfg, device=device, threads=threads, out=args.out)
    for name, record in values.items():
        spread = f" ± {record['std']:.4g}" if "std" in record else ""
        print(f"{name}: {record['value']:.6g}{spread}")


def cmd_experiment(args: argparse.Namespace) -> None:
    from genbench.experiments import input_flags, run_experiment

    profile = _profile(args)
    _, line = run_experiment(args.kind, profile, inputs={name: getattr(args, name) for name in input_flags()},
                             threads=_threads(args, profile), out=args.out,
                             profile_source="--settings" if args.settings else " + ".join(map(str, args.profile)))
    print(line)


def cmd_report(args: argparse.Namespace) -> None:
    from genbench.config.preset import main_sampler, read_preset
    from genbench.report import build_report

    profile = _profile(args)
    build_report(args.results, args.out, profile=profile.profile, datasets=profile.datasets,
                 presets=profile.presets, seeds=profile.seeds, preset_datasets=profile.preset_datasets,
                 data_root=args.data, settings=profile.report,
                 logs_root=args.logs or Path("logs") / profile.profile, snakemake_logs=args.snakemake_logs,
                 main_samplers={p: main_sampler(read_preset(p, profile.overrides.get(p))[0]) for p in profile.presets})


def cmd_hype_score(args: argparse.Namespace) -> None:
    from genbench.io import write_bytes
    from genbench.report.hype import format_scores, score_files, write_scores_csv

    scores = score_files(args.results)
    print(format_scores(scores))
    if args.out is not None:
        write_bytes(args.out, write_scores_csv(scores).encode())


def cmd_compare(args: argparse.Namespace) -> None:
    from genbench import tracking
    from genbench.report.compare import comparison_table, format_table

    profile = _profile(args)
    experiment = args.experiment or tracking.experiment_name(profile.mlflow, profile.profile)
    runs = tracking.finished_runs(profile.mlflow, experiment)
    print(f"{experiment} ({tracking.tracking_uri(profile.mlflow)}): {len(runs)} finished runs; "
          f"'{args.metric}' of each model's best sampler setting")
    print(format_table(comparison_table(runs, args.metric)))


SAMPLER_CONFIG_HELP = ("the --sampler setting as JSON (the rules pass the preset's); default: that setting of the "
                       "checkpoint's preset in params/models/ with the profile's overrides")


def build_parser(*, experiments: bool = True) -> argparse.ArgumentParser:
    """The parser of every command; ``experiments=False`` leaves out the arguments of ``experiment``, which
    need its registry (every experiment module, and torch, imported)."""
    parser = argparse.ArgumentParser(prog="genbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, fn, help: str, settings: bool = True,
                default_profile: tuple[Path, ...] = (Path("params/default.yaml"),)) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.set_defaults(fn=fn)
        if settings:
            _settings_args(p, default_profile=default_profile)
        return p

    command("list", cmd_list, "list the model families, experiments, feature spaces and datasets", settings=False)
    command("validate", cmd_validate, "check params files (and every preset they name) without running anything")
    p = command("prepare-data", cmd_prepare_data, "fetch, verify and convert one dataset", settings=False)
    p.add_argument("dataset")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cache", type=Path, default=Path(".cache/downloads"))
    p = command("fetch-weights", cmd_fetch_weights, "fetch and verify pinned weights (a feature extractor or the "
                "text encoder)", settings=False)
    p.add_argument("extractor", help="inception, text-encoder (all-MiniLM-L6-v2), vgg16, or lpips (VGG16 and "
                   "the LPIPS v0.1 heads)")
    p = command("train-domain", cmd_train_domain, "train the per-dataset domain classifier")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = command("train-judges", cmd_train_judges, "train the per-dataset guide and judge classifiers (disjoint "
                "halves of the train split) of steering and guidance")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--guide", type=Path, required=True, help="the guide's .pt")
    p.add_argument("--judge", type=Path, required=True, help="the judge's .pt")
    p.add_argument("--record", type=Path, required=True, help="judges.json: accuracies, halves, agreement")
    p = command("train-segmenter", cmd_train_segmenter, "train the per-dataset FCN-score segmenter (label_maps)")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = command("reference", cmd_reference, "features of the real reference images in one feature space")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--space", default="domain", help="registered feature extractor (domain, inception)")
    p.add_argument("--extractor-file", type=Path, required=True, help="its weights (domain: classifier.pt)")
    p.add_argument("--split", help="default: evaluation.reference_split")
    p.add_argument("--n", type=int, help="images (0 = the whole split; default: evaluation.n_real)")
    p.add_argument("--out", type=Path, required=True)
    p = command("memorisation", cmd_memorisation,
                "a model's samples beside their nearest training images, and its copy statistics")
    p.add_argument("--samples", type=Path, required=True)
    p.add_argument("--train-reference", type=Path, required=True, help="domain features of the whole train split")
    p.add_argument("--test-reference", type=Path, required=True, help="domain features of the test reference")
    p.add_argument("--classifier", type=Path, required=True, help="the dataset's domain classifier")
    p.add_argument("--data", type=Path, required=True, help="the prepared dataset (train images to show)")
    p.add_argument("--train-summary", type=Path, required=True)
    p.add_argument("--sampler", required=True)
    p.add_argument("--out", type=Path, required=True)
    p = command("training-curve", cmd_training_curve,
                "FD in the domain space at each milestone step of a training run and at its end")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--milestones", type=Path, required=True, help="milestones.pt beside the checkpoint")
    p.add_argument("--classifier", type=Path, required=True, help="the dataset's domain classifier")
    p.add_argument("--reference", type=Path, required=True, help="domain features of the test reference")
    p.add_argument("--train-summary", type=Path, required=True)
    p.add_argument("--sampler", required=True)
    p.add_argument("--sampler-config", help=SAMPLER_CONFIG_HELP)
    p.add_argument("--samples", type=Path, default=None,
                   help="the sampler's sample file: its first images are the final point's when drawn alike")
    p.add_argument("--out", type=Path, required=True)
    p = command("likelihood", cmd_likelihood, "bits/dim of a model with a likelihood (or a bound) on the first "
                "likelihood.n test images of its dataset")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="the prepared dataset it was trained on")
    p.add_argument("--train-summary", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="likelihood.json (likelihood.npz beside it)")
    p = command("train", cmd_train, "train one (dataset, preset, seed)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--preset", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p = command("sample", cmd_sample, "draw evaluation.n_fake images from a checkpoint with one sampler setting")
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--sampler", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, help="prepared dataset whose test inputs an image-to-image family translates")
    p.add_argument("--parent-samples", type=Path, help="a first_of setting: the samples .npz of the setting it names")
    p.add_argument("--sampler-config", help=SAMPLER_CONFIG_HELP)
    p.add_argument("--out", type=Path, required=True)
    p = command("evaluate", cmd_evaluate, "metrics of sample files (a model's sampler settings) against the "
                "reference features")
    p.add_argument("--samples", type=Path, nargs="+", required=True)
    p.add_argument("--train-summary", type=Path, required=True)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="the metrics file of a single --samples file")
    where.add_argument("--out-dir", type=Path, help="write <sampler>.json here for each --samples file")
    p.add_argument("--reference", type=Path, nargs="*", default=[], help="one per evaluation.feature_spaces, in order")
    p.add_argument("--extractor-file", type=Path, nargs="*", default=[], help="one per evaluation.feature_spaces")
    p.add_argument("--sampler", nargs="+", help="sampler name of each --samples file (default: the file names)")
    p.add_argument("--data", type=Path, help="image-to-image outputs: the dataset whose test rows they translate")
    p.add_argument("--segmenter", type=Path, help="outputs that are MNIST-M images: the FCN-score network")
    p.add_argument("--lpips", type=Path, help="super-resolution outputs: the LPIPS weights")
    p.add_argument("--judge", type=Path, help="class-conditional models: the judge.pt whose class accuracy is a "
                   "second opinion (genbench.features.judge)")
    # no default profile: without --profile (or --settings) it measures by the standard protocol, anywhere
    p = command("metrics", cmd_metrics, "metrics of any two inputs: image folders, image or feature .npz files",
                default_profile=())
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--real", type=Path, required=True, help="image folder, .npz with 'images' or 'features'")
    p.add_argument("--fake", type=Path, required=True, help="same kinds as --real ('logits' in a features .npz feed 'is')")
    p.add_argument("--metrics", default="fd,kid,pr",
                   help=f"comma-separated: {', '.join(METRIC_NAMES)} (default: fd,kid,pr)")
    p.add_argument("--features", default="inception", help="feature extractor: inception (its pinned weights are "
                   "fetched to ~/.cache/genbench the first time), domain, or none")
    p.add_argument("--extractor-file", type=Path, default=None, help="weights of the extractor (domain: classifier.pt)")
    p.add_argument("--out", type=Path, default=None, help="write the values with their protocol as JSON")
    p = command("experiment", cmd_experiment, "an experiment on trained checkpoints or photos (genbench.experiments)")
    if experiments:  # the registry imports every experiment module (and torch): only for this command
        from genbench.experiments import input_flags, registered

        p.add_argument("kind", choices=registered().names())
        for name, text in input_flags().items():
            p.add_argument(f"--{name.replace('_', '-')}", type=Path, help=text)
        p.add_argument("--out", type=Path, required=True, help="the JSON record; figures go beside it")
    p = command("compare", cmd_compare, "the MLflow runs of a profile side by side, one line per model")
    p.add_argument("--experiment", help="MLflow experiment (default: genbench-<profile>)")
    p.add_argument("--metric", default="fd_domain", help="final metric to compare (default: fd_domain)")
    p = command("report", cmd_report, "build reports/all from the results of a profile")
    p.add_argument("--results", type=Path, required=True)
    p.add_argument("--data", type=Path, default=Path("data"), help="prepared datasets (real images of hype.html)")
    p.add_argument("--logs", type=Path, help="the profile's logs, for the timeline's benchmark files "
                   "(default: logs/<profile>)")
    p.add_argument("--snakemake-logs", type=Path, default=Path(".snakemake/log"),
                   help="Snakemake's logs: the timeline shows the latest invocation's jobs")
    p.add_argument("--out", type=Path, required=True)
    p = command("hype-score", cmd_hype_score, "fooling rates from the CSVs exported by reports/all/hype.html",
                settings=False)
    p.add_argument("results", type=Path, nargs="+", help="one exported CSV per person (pooled)")
    p.add_argument("--out", type=Path, help="also write the scores as CSV")
    return parser


def _runtime_error_message(args: argparse.Namespace, err: RuntimeError) -> str | None:
    """The one-line message of a diverged model or a device out-of-memory error (naming the batch-size key
    to lower); None for any other error. Imported only once a command has failed: both pull in torch."""
    import torch

    from genbench.train.loop import TrainingDiverged

    if isinstance(err, TrainingDiverged):
        return str(err)
    if not isinstance(err, torch.OutOfMemoryError):
        return None
    key = (f"train.batch_size in the profile (overrides: {{{args.preset}: {{train: {{batch_size: ...}}}}}})"
           if args.command == "train" else "evaluation.batch_size in the profile")
    return f"out of device memory ({str(err).splitlines()[0]}); lower {key}, e.g. halve it"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser(experiments=argv[:1] == ["experiment"])
    except ConfigError as err:  # a plugin experiment that cannot be imported
        print(f"genbench: error: {err}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        args.fn(args)
    except (ConfigError, InputError, MetricInputError) as err:
        print(f"genbench {args.command}: error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        message = _runtime_error_message(args, err)
        if message is None:
            raise
        print(f"genbench {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
