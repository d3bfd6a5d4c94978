# Experiments on trained checkpoints (and photos), one module each under genbench/experiments/: two rules for
# all of them, reading their declarations through experiments_plan.smk, so adding an experiment adds no rule.
# Which runs take part follows the profile's section experiments.<name>.


rule experiment:
    input:
        unpack(experiment_inputs),
    output:
        f"{RUN_DIR}/experiments/{{experiment}}.json",
    wildcard_constraints:
        experiment="|".join(PER_RUN),
    params:
        code=experiment_code,
        settings=experiment_settings,
        args=experiment_args,
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/{{experiment}}.log",
    benchmark:
        f"{RUN_DIR}/experiments/{{experiment}}.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=lambda w: EXPERIMENTS.get(w.experiment).mem_mb,
    shell:
        "genbench experiment {wildcards.experiment} {params.args} --out {output} "
        "--settings {params.settings:q} > {log} 2>&1"


rule profile_experiment:
    # an experiment without a checkpoint (neural style transfer of photos): once per profile
    input:
        unpack(experiment_inputs),
    output:
        f"{RESULTS}/{{experiment}}/{{experiment}}.json",
    wildcard_constraints:
        experiment="|".join(PROFILE_WIDE),
    params:
        code=experiment_code,
        settings=experiment_settings,
        args=experiment_args,
    log:
        f"{LOGS}/{{experiment}}.log",
    benchmark:
        f"{RESULTS}/{{experiment}}/{{experiment}}.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=lambda w: EXPERIMENTS.get(w.experiment).mem_mb,
    shell:
        "genbench experiment {wildcards.experiment} {params.args} --out {output} "
        "--settings {params.settings:q} > {log} 2>&1"
