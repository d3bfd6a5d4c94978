# Reference features of real test images (path encodes split and n), then metrics per sample file.


rule reference_features:
    input:
        test="data/{dataset}/test.npz",
        extractor=lambda w: extractor_file(w.space, w.dataset),
    output:
        REFERENCE,
    params:
        settings=lambda w: settings("threads", "device", "evaluation"),
    log:
        f"{LOGS}/{{dataset}}/reference_{{space}}.log",
    benchmark:
        f"{LOGS}/{{dataset}}/reference_{{space}}.benchmark.tsv",
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=2000,
    shell:
        "genbench reference --data data/{wildcards.dataset} --space {wildcards.space} "
        "--extractor-file {input.extractor} --out {output} "
        "--settings {params.settings:q} > {log} 2>&1"


rule evaluate:
    wildcard_constraints:
        preset=preset_pattern(translators=False),
    input:
        samples=f"{RUN_DIR}/samples/{{sampler}}.npz",
        references=references,
        extractors=extractor_files,
        summary=f"{RUN_DIR}/train_summary.json",
    output:
        f"{RUN_DIR}/metrics/{{sampler}}.json",
    params:
        settings=lambda w: settings("threads", "device", "evaluation", "mlflow"),
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/evaluate_{{sampler}}.log",
    benchmark:
        f"{RUN_DIR}/metrics/{{sampler}}.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=2000,
    shell:
        "genbench evaluate --samples {input.samples} --reference {input.references} "
        "--extractor-file {input.extractors} "
        "--train-summary {input.summary} --sampler {wildcards.sampler} --out {output} "
        "--settings {params.settings:q} > {log} 2>&1"
