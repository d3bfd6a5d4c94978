# Reference features of real test images (path encodes split and n), then metrics of each model's samples.


rule reference_features:
    input:
        test="data/{dataset}/test.npz",
        extractor=lambda w: extractor_file(w.space, w.dataset),
    output:
        REFERENCE,
    params:
        code=code("reference"),
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
    # One job per model measures all its sampler settings: the feature networks, references and MLflow store
    # load once (they were most of a per-sampler job's 8-10 s). A re-drawn sampler re-measures its siblings
    # too, at well under a second each. Writes metrics/<sampler>.json for each sampler.
    wildcard_constraints:
        preset=preset_pattern(translators=False),
    input:
        samples=model_samples,
        references=references,
        extractors=extractor_files,
        summary=f"{RUN_DIR}/train_summary.json",
        judge=judge_input,
    output:
        directory(f"{RUN_DIR}/metrics"),
    params:
        code=code("evaluate"),
        settings=lambda w: settings("threads", "device", "evaluation", "mlflow"),
        judge=lambda w, input: f"--judge {input.judge[0]}" if input.judge else "",
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/evaluate.log",
    benchmark:
        f"{RUN_DIR}/evaluate.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=2000,
    shell:
        "genbench evaluate --samples {input.samples} --reference {input.references} "
        "--extractor-file {input.extractors} --train-summary {input.summary} --out-dir {output} {params.judge} "
        "--settings {params.settings:q} > {log} 2>&1"


rule train_features:
    # Domain features of the whole train split: the memorisation check's neighbours (one file per dataset).
    input:
        train="data/{dataset}/train.npz",
        extractor=CLASSIFIER,
    output:
        TRAIN_FEATURES,
    params:
        code=code("reference"),
        settings=lambda w: settings("threads", "device", "evaluation"),
    log:
        f"{LOGS}/{{dataset}}/train_features.log",
    benchmark:
        f"{LOGS}/{{dataset}}/train_features.benchmark.tsv",
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=2000,
    shell:
        "genbench reference --data data/{wildcards.dataset} --space domain --split train --n 0 "
        "--extractor-file {input.extractor} --out {output} --settings {params.settings:q} > {log} 2>&1"


rule memorisation:
    wildcard_constraints:
        preset=preset_pattern(translators=False),
    input:
        samples=f"{RUN_DIR}/samples/{{sampler}}.npz",
        train_features=TRAIN_FEATURES,
        test_features=REFERENCE.replace("{space}", "domain"),
        classifier=CLASSIFIER,
        train="data/{dataset}/train.npz",
        summary=f"{RUN_DIR}/train_summary.json",
    output:
        record=f"{RUN_DIR}/memorisation/{{sampler}}.json",
        figure=report(f"{RUN_DIR}/memorisation/{{sampler}}.png", caption="../report/memorisation.rst",
                      category="Memorisation check", subcategory="{dataset}",
                      labels={"preset": "{preset}", "sampler": "{sampler}", "seed": "{seed}"}),
    params:
        code=code("memorisation"),
        settings=lambda w: settings("threads", "device", "evaluation", "memorisation"),
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/memorisation_{{sampler}}.log",
    benchmark:
        f"{RUN_DIR}/memorisation/{{sampler}}.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=3000,
    shell:
        "genbench memorisation --samples {input.samples} --train-reference {input.train_features} "
        "--test-reference {input.test_features} --classifier {input.classifier} --data data/{wildcards.dataset} "
        "--train-summary {input.summary} --sampler {wildcards.sampler} --out {output.record} "
        "--settings {params.settings:q} > {log} 2>&1"


rule likelihood:
    # bits/dim on the first likelihood.n test images, for the presets in likelihood.presets
    wildcard_constraints:
        preset=preset_pattern(translators=False),
    input:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        test="data/{dataset}/test.npz",
        summary=f"{RUN_DIR}/train_summary.json",
    output:
        record=f"{RUN_DIR}/likelihood.json",
        per_image=f"{RUN_DIR}/likelihood.npz",
    params:
        code=code("likelihood", per_preset=True),
        # not likelihood.presets: adding a preset there must not re-run the others
        settings=lambda w: settings("threads", "device", *(f"likelihood.{k}" for k in LIKELIHOOD_KEYS), "mlflow"),
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/likelihood.log",
    benchmark:
        f"{RUN_DIR}/likelihood.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=3000,
    shell:
        "genbench likelihood --checkpoint {input.checkpoint} --data data/{wildcards.dataset} "
        "--train-summary {input.summary} --out {output.record} --settings {params.settings:q} > {log} 2>&1"


rule training_curve:
    wildcard_constraints:
        preset=preset_pattern(translators=False),
    input:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        milestones=f"{RUN_DIR}/milestones.pt",
        samples=f"{RUN_DIR}/samples/{{sampler}}.npz",  # its first images are the final point's
        classifier=CLASSIFIER,
        reference=REFERENCE.replace("{space}", "domain"),
        summary=f"{RUN_DIR}/train_summary.json",
    output:
        f"{RUN_DIR}/training_curve/{{sampler}}.json",
    params:
        code=code("training-curve", per_preset=True),
        sampler=sampler_setting,
        settings=lambda w: settings("threads", "device", "evaluation", "training_curve"),
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/training_curve_{{sampler}}.log",
    benchmark:
        f"{RUN_DIR}/training_curve/{{sampler}}.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=2000,
    shell:
        "genbench training-curve --checkpoint {input.checkpoint} --milestones {input.milestones} "
        "--classifier {input.classifier} --reference {input.reference} --train-summary {input.summary} "
        "--sampler {wildcards.sampler} --sampler-config {params.sampler:q} --samples {input.samples} "
        "--out {output} "
        "--settings {params.settings:q} > {log} 2>&1"
