# One job per (dataset, preset, seed). Its params carry the preset's training recipe (not its sampler settings:
# the sample rules carry those) and the version of the code it runs, so an edit re-plans only what it changes.


rule train_domain_classifier:
    # First among equals: every evaluation of its dataset waits for it.
    priority: 10
    input:
        train="data/{dataset}/train.npz",
        test="data/{dataset}/test.npz",
    output:
        model=f"{DOMAIN_DIR}/classifier.pt",
        record=f"{DOMAIN_DIR}/classifier.json",
    params:
        code=code("train-domain"),
        settings=lambda w: settings("threads", "domain", "device"),
    log:
        f"{LOGS}/{{dataset}}/domain.log",
    benchmark:
        f"{DOMAIN_DIR}/train.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=3000,
        runtime=60,
        gpu=0,
    shell:
        "genbench train-domain --data data/{wildcards.dataset} --out {output.model} "
        "--settings {params.settings:q} > {log} 2>&1"


rule train_judges:
    # The guide that steering and loss guidance optimise against and the judge that scores them: another
    # architecture, trained on the other half of the train split (genbench.features.judge).
    input:
        train="data/{dataset}/train.npz",
        test="data/{dataset}/test.npz",
    output:
        guide=GUIDE,
        judge=JUDGE,
        record=f"{DOMAIN_DIR}/judges.json",
    params:
        code=code("train-judges"),
        settings=lambda w: settings("threads", "domain", "judges", "device"),
    log:
        f"{LOGS}/{{dataset}}/judges.log",
    benchmark:
        f"{DOMAIN_DIR}/judges.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=3000,
        runtime=60,
        gpu=0,
    shell:
        "genbench train-judges --data data/{wildcards.dataset} --guide {output.guide} --judge {output.judge} "
        "--record {output.record} --settings {params.settings:q} > {log} 2>&1"


rule train:
    priority: train_priority
    input:
        train="data/{dataset}/train.npz",
        meta="data/{dataset}/meta.json",
        weights=pinned_weights_input,
        init=init_checkpoint_input,  # the job finds it under its own results root (genbench.jobs.train)
    output:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        summary=f"{RUN_DIR}/train_summary.json",
        losses=f"{RUN_DIR}/losses.csv",
        config=f"{RUN_DIR}/config.yaml",
        milestones=f"{RUN_DIR}/milestones.pt",  # weights at train.curve_points earlier steps
        grid=report(f"{RUN_DIR}/grid.png", caption="../report/train_grid.rst", category="Training",
                    subcategory="{dataset}", labels={"preset": "{preset}", "seed": "{seed}"}),
    params:
        code=code("train", per_preset=True),
        recipe=lambda w: training_recipe(w.preset),
        settings=lambda w: settings("threads", "device", "mlflow", "checkpoint", "cuda", preset=w.preset),
        out_dir=lambda w, output: os.path.dirname(output.checkpoint),
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/train.log",
    benchmark:
        f"{RUN_DIR}/train.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=4000,
        runtime=TRAIN_RUNTIME,
        gpu=0,  # workflow/profiles/{slurm,gpu} set 1
    shell:
        "genbench train --dataset {wildcards.dataset} --preset {wildcards.preset} --seed {wildcards.seed} "
        "--data data/{wildcards.dataset} --out-dir {params.out_dir} "
        "--settings {params.settings:q} > {log} 2>&1"
