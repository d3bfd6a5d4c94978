# Image-to-image families (pix2pix, CycleGAN, SRGAN/SRResNet): they train through the `train` rule, but
# translate the test inputs of their dataset instead of sampling, and are measured by their task's metrics
# (genbench.jobs.translate, genbench.jobs.evaluate_translation). Only their presets match these rules' wildcards.


rule train_segmenter:
    input:
        train="data/{dataset}/train.npz",
        test="data/{dataset}/test.npz",
    output:
        SEGMENTER,
    params:
        code=code("train-segmenter"),
        settings=lambda w: settings("threads", "device", "segmenter"),
    log:
        f"{LOGS}/{{dataset}}/segmenter.log",
    benchmark:
        f"{RESULTS}/{{dataset}}/segmenter/train.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=3000,
    shell:
        "genbench train-segmenter --data data/{wildcards.dataset} --out {output} "
        "--settings {params.settings:q} > {log} 2>&1"


rule translate:
    wildcard_constraints:
        preset=preset_pattern(translators=True),
    input:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        test="data/{dataset}/test.npz",
    output:
        samples=f"{RUN_DIR}/samples/{{sampler}}.npz",
        record=f"{RUN_DIR}/samples/{{sampler}}.json",
        grid=report(f"{RUN_DIR}/samples/{{sampler}}.png", caption="../report/translation_grid.rst",
                    category="Image-to-image", subcategory="{dataset}",
                    labels={"preset": "{preset}", "sampler": "{sampler}", "seed": "{seed}"}),
    params:
        code=code("sample", per_preset=True),
        sampler=sampler_setting,
        settings=lambda w: settings("threads", "device", "evaluation"),
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/sample_{{sampler}}.log",
    benchmark:
        f"{RUN_DIR}/samples/{{sampler}}.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=3000,
        runtime=60,
        gpu=0,  # workflow/profiles/{slurm,gpu} set 1
    shell:
        "genbench sample --checkpoint {input.checkpoint} --sampler {wildcards.sampler} --seed {wildcards.seed} "
        "--sampler-config {params.sampler:q} "
        "--data data/{wildcards.dataset} --out {output.samples} --settings {params.settings:q} > {log} 2>&1"


rule evaluate_translation:
    wildcard_constraints:
        preset=preset_pattern(translators=True),
    input:
        unpack(translation_metric_inputs),
    output:
        f"{RUN_DIR}/metrics/{{sampler}}.json",
    params:
        code=code("evaluate"),
        settings=lambda w: settings("threads", "device", "evaluation", "mlflow"),
        task_files=task_file_args,
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/evaluate_{{sampler}}.log",
    benchmark:
        f"{RUN_DIR}/metrics/{{sampler}}.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=3000,
    shell:
        "genbench evaluate --samples {input.samples} --reference {input.references} "
        "--extractor-file {input.extractors} --train-summary {input.summary} --sampler {wildcards.sampler} "
        "--data data/{wildcards.dataset} {params.task_files} --out {output} "
        "--settings {params.settings:q} > {log} 2>&1"
