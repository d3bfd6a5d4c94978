# Experiments on trained checkpoints (genbench.experiments): latent walks, StyleGAN's style mixing and
# stochastic variation, classifier-gradient steering, a linear probe on discriminator features, classifier
# training on real + generated images; loss guidance and SDEdit img2img of diffusion models.
# Which presets take part is the profile's `experiments:` section (experiment_outputs in common.smk).


rule walks:
    input:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
    output:
        f"{RUN_DIR}/experiments/walks.json",
    params:
        code=code("experiment", per_preset=True),
        settings=lambda w: settings("threads", "device"),
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/walks.log",
    benchmark:
        f"{RUN_DIR}/experiments/walks.benchmark.tsv",
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    shell:
        "genbench experiment walks --checkpoint {input.checkpoint} --out {output} "
        "--settings {params.settings:q} > {log} 2>&1"


rule stylegan_figures:
    # StyleGAN's style mixing (Figure 3) and stochastic variation (Figure 4): PNGs beside the record
    input:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
    output:
        f"{RUN_DIR}/experiments/stylegan_figures.json",
    params:
        code=code("experiment", per_preset=True),
        settings=lambda w: settings("threads", "device", "experiments.stylegan_figures"),
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/stylegan_figures.log",
    benchmark:
        f"{RUN_DIR}/experiments/stylegan_figures.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    shell:
        "genbench experiment stylegan_figures --checkpoint {input.checkpoint} --out {output} "
        "--settings {params.settings:q} > {log} 2>&1"


rule steering:
    # optimises against the guide; scored by the guide, the judge and, for realism, FD and precision
    input:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        guide=GUIDE,
        judge=JUDGE,
        classifier=CLASSIFIER,
        reference=REFERENCE.replace("{space}", "domain"),
    output:
        f"{RUN_DIR}/experiments/steering.json",
    params:
        code=code("experiment", per_preset=True),
        settings=lambda w: settings("threads", "device", "evaluation.pr_k", "experiments.steering"),
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/steering.log",
    benchmark:
        f"{RUN_DIR}/experiments/steering.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=2000,
    shell:
        "genbench experiment steering --checkpoint {input.checkpoint} --guide {input.guide} --judge {input.judge} "
        "--classifier {input.classifier} --reference {input.reference} --out {output} "
        "--settings {params.settings:q} > {log} 2>&1"


rule probe:
    input:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        train="data/{dataset}/train.npz",
        test="data/{dataset}/test.npz",
    output:
        f"{RUN_DIR}/experiments/probe.json",
    params:
        code=code("experiment", per_preset=True),
        settings=lambda w: settings("threads", "device", "experiments.probe"),
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/probe.log",
    benchmark:
        f"{RUN_DIR}/experiments/probe.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=3000,
    shell:
        "genbench experiment probe --checkpoint {input.checkpoint} --data data/{wildcards.dataset} "
        "--out {output} --settings {params.settings:q} > {log} 2>&1"


rule augmentation:
    input:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        train="data/{dataset}/train.npz",
        test="data/{dataset}/test.npz",
    output:
        f"{RUN_DIR}/experiments/augmentation.json",
    params:
        code=code("experiment", per_preset=True),
        settings=lambda w: settings("threads", "device", "experiments.augmentation", "domain"),
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/augmentation.log",
    benchmark:
        f"{RUN_DIR}/experiments/augmentation.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=3000,
    shell:
        "genbench experiment augmentation --checkpoint {input.checkpoint} --data data/{wildcards.dataset} "
        "--out {output} --settings {params.settings:q} > {log} 2>&1"


rule loss_guidance:
    # optimises against the guide; scored by the guide, the judge and, for realism, FD and precision
    input:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        guide=GUIDE,
        judge=JUDGE,
        classifier=CLASSIFIER,
        reference=REFERENCE.replace("{space}", "domain"),
    output:
        f"{RUN_DIR}/experiments/loss_guidance.json",
    params:
        code=code("experiment", per_preset=True),
        settings=lambda w: settings("threads", "device", "evaluation.pr_k", "experiments.loss_guidance"),
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/loss_guidance.log",
    benchmark:
        f"{RUN_DIR}/experiments/loss_guidance.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=2000,
    shell:
        "genbench experiment loss_guidance --checkpoint {input.checkpoint} --guide {input.guide} --judge {input.judge} "
        "--classifier {input.classifier} --reference {input.reference} --out {output} "
        "--settings {params.settings:q} > {log} 2>&1"


rule sdedit:
    input:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        classifier=CLASSIFIER,
        train="data/{dataset}/train.npz",
        reference=lambda w: REFERENCE.format(dataset=w.dataset, space="domain"),
    output:
        f"{RUN_DIR}/experiments/sdedit.json",
    params:
        code=code("experiment", per_preset=True),
        settings=lambda w: settings("threads", "device", "experiments.sdedit"),
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/sdedit.log",
    benchmark:
        f"{RUN_DIR}/experiments/sdedit.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=3000,
    shell:
        "genbench experiment sdedit --checkpoint {input.checkpoint} --classifier {input.classifier} "
        "--data data/{wildcards.dataset} --reference {input.reference} "
        "--out {output} --settings {params.settings:q} > {log} 2>&1"


rule freecontrol:
    # training-free MNIST-M -> MNIST with the MNIST model, on the test rows the baseline (CycleGAN's F) translated
    input:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        classifier=CLASSIFIER,
        reference=lambda w: REFERENCE.format(dataset=w.dataset, space="domain"),
        source=f"data/{PROFILE.experiments.freecontrol.source_dataset}/test.npz",
        baseline=freecontrol_baseline_samples,
    output:
        f"{RUN_DIR}/experiments/freecontrol.json",
    params:
        code=code("experiment", per_preset=True),
        settings=lambda w: settings("threads", "device", "experiments.freecontrol"),
        source=lambda w, input: os.path.dirname(input.source),
    log:
        f"{LOGS}/{{dataset}}/{{preset}}/seed{{seed}}/freecontrol.log",
    benchmark:
        f"{RUN_DIR}/experiments/freecontrol.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=3000,
    shell:
        "genbench experiment freecontrol --checkpoint {input.checkpoint} --classifier {input.classifier} "
        "--data {params.source} --reference {input.reference} --baseline-samples {input.baseline[0]} "
        "--out {output} --settings {params.settings:q} > {log} 2>&1"


rule style_transfer:
    input:
        vgg16=VGG16_WEIGHTS,
    output:
        STYLE_TRANSFER,
    params:
        code=code("experiment"),
        settings=lambda w: settings("threads", "device", "experiments.style_transfer"),
    log:
        f"{LOGS}/style_transfer.log",
    benchmark:
        f"{RESULTS}/style_transfer/style_transfer.benchmark.tsv"
    threads: THREADS
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=3000,
    shell:
        "genbench experiment style_transfer --vgg16 {input.vgg16} --out {output} "
        "--settings {params.settings:q} > {log} 2>&1"
