# The plan of the experiments (one module each under genbench/experiments/): which records the profile asks for,
# and each job's inputs, flags, settings and code version, all read from the experiments' declarations
# (genbench.experiments.base.Experiment). The two rules that run them: experiments.smk.
import hashlib
import shlex

from genbench.experiments import registered

EXPERIMENTS = registered()
EXPERIMENT_CONFIGS = {name: EXPERIMENTS.get(name).config_of(PROFILE, name) for name in EXPERIMENTS}
PER_RUN = [name for name in EXPERIMENTS if EXPERIMENTS.get(name).per_run]
PROFILE_WIDE = [name for name in EXPERIMENTS if not EXPERIMENTS.get(name).per_run]


def experiment_outputs():
    """The experiment records the profile asks for: one per run of each preset an experiment takes part in, and
    one per profile of an experiment without a checkpoint, where enabled."""
    families = {preset: family_class(PRESETS[preset].family) for preset in PROFILE.presets}
    wanted = [f"{RESULTS}/{name}/{name}.json" for name in PROFILE_WIDE
              if EXPERIMENTS.get(name).enabled(EXPERIMENT_CONFIGS[name])]
    for name in PER_RUN:
        for preset in EXPERIMENTS.get(name).presets_taking_part(EXPERIMENT_CONFIGS[name], families):
            wanted += [f"{RESULTS}/{d}/{preset}/seed{s}/experiments/{name}.json"
                       for d in PROFILE.datasets_of(preset) for s in PROFILE.seeds]
    return sorted(wanted)


def experiment_inputs(wildcards):
    """``{input name: [files]}`` of an experiment's job: the plan's places for the shared inputs
    (genbench.experiments.base.INPUTS), the experiment's ``more_inputs`` for its own."""
    name = wildcards.experiment
    experiment = EXPERIMENTS.get(name)
    shared = {"checkpoint": [f"{RUN_DIR}/checkpoint.pt"],
              "data": ["data/{dataset}/train.npz", "data/{dataset}/test.npz"], "classifier": [CLASSIFIER],
              "guide": [GUIDE], "judge": [JUDGE], "reference": [REFERENCE.replace("{space}", "domain")],
              "vgg16": [VGG16_WEIGHTS]}
    seed = int(wildcards.seed) if hasattr(wildcards, "seed") else 0  # a profile-wide experiment has no run
    own = experiment.more_inputs(EXPERIMENT_CONFIGS[name], RESULTS, seed) if experiment.more_inputs else {}
    return {key: [path.format(**wildcards) for path in own.get(key) or shared[key]] for key in experiment.inputs}


def experiment_args(wildcards, input):
    """The job's input flags: a dataset input (``data``, ``*_data``) as its folder, any other its first file."""
    flags = []
    for key in EXPERIMENTS.get(wildcards.experiment).inputs:
        first = input[key] if isinstance(input[key], str) else input[key][0]
        value = os.path.dirname(first) if key == "data" or key.endswith("_data") else first
        flags.append(f"--{key.replace('_', '-')} {shlex.quote(value)}")
    return " ".join(flags)


def experiment_settings(wildcards):
    return settings("threads", "device", f"experiments.{wildcards.experiment}",
                    *EXPERIMENTS.get(wildcards.experiment).settings)


def experiment_code(wildcards):
    """The code version of an experiment's job; a plugin module outside genbench adds its file's checksum."""
    name = wildcards.experiment
    family = PRESETS[wildcards.preset].family if hasattr(wildcards, "preset") else ""
    source = sys.modules[EXPERIMENTS.get(name).run.__module__]
    if source.__name__.startswith("genbench."):
        return code_version("experiment", family=family, experiment=name, cache=CODE_GRAPH_CACHE)
    plugin = hashlib.sha256(Path(source.__file__).read_bytes()).hexdigest()[:16]
    return f"{code_version('experiment', family=family, cache=CODE_GRAPH_CACHE)}+{plugin}"
