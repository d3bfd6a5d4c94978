# One job per sampler setting of a preset (e.g. DDPM-1000 and DDIM-50 share one checkpoint).


rule sample:
    input:
        checkpoint=RUN_DIR + "/checkpoint.pt",
    output:
        samples=RUN_DIR + "/samples/{sampler}.npz",
        record=RUN_DIR + "/samples/{sampler}.json",
        grid=RUN_DIR + "/samples/{sampler}.png",
    params:
        settings=lambda w: settings("device", "evaluation"),
    log:
        LOGS + "/{dataset}/{preset}/seed{seed}/sample_{sampler}.log",
    benchmark:
        RUN_DIR + "/samples/{sampler}.benchmark.tsv"
    threads: THREADS
    resources:
        mem_mb=3000,
    shell:
        "genbench sample --checkpoint {input.checkpoint} --sampler {wildcards.sampler} --seed {wildcards.seed} "
        "--out {output.samples} --settings {params.settings:q} --threads {threads} > {log} 2>&1"
