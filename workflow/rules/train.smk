# One job per (dataset, preset, seed); the preset file is an input, so editing it re-plans only its branch.


rule train_domain_classifier:
    input:
        train="data/{dataset}/train.npz",
        test="data/{dataset}/test.npz",
    output:
        model=DOMAIN_DIR + "/classifier.pt",
        record=DOMAIN_DIR + "/classifier.json",
    params:
        settings=lambda w: settings("domain", "device"),
    log:
        LOGS + "/{dataset}/domain.log",
    benchmark:
        DOMAIN_DIR + "/train.benchmark.tsv"
    threads: THREADS
    resources:
        mem_mb=3000,
    shell:
        "genbench train-domain --data data/{wildcards.dataset} --out {output.model} "
        "--settings {params.settings:q} --threads {threads} > {log} 2>&1"


rule train:
    input:
        train="data/{dataset}/train.npz",
        meta="data/{dataset}/meta.json",
        preset="params/models/{preset}.yaml",
    output:
        checkpoint=RUN_DIR + "/checkpoint.pt",
        summary=RUN_DIR + "/train_summary.json",
        losses=RUN_DIR + "/losses.csv",
        config=RUN_DIR + "/config.yaml",
        grid=RUN_DIR + "/grid.png",
    params:
        settings=lambda w: settings("device", "mlflow", preset=w.preset),
    log:
        LOGS + "/{dataset}/{preset}/seed{seed}/train.log",
    benchmark:
        RUN_DIR + "/train.benchmark.tsv"
    threads: THREADS
    resources:
        mem_mb=4000,
    shell:
        "genbench train --dataset {wildcards.dataset} --preset {wildcards.preset} --seed {wildcards.seed} "
        "--data data/{wildcards.dataset} --out-dir {RESULTS}/{wildcards.dataset}/{wildcards.preset}/seed{wildcards.seed} "
        "--settings {params.settings:q} --threads {threads} > {log} 2>&1"
