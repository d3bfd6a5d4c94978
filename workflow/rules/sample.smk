# One job per sampler setting of a preset (e.g. DDPM-1000 and DDIM-50 share one checkpoint); a first_of setting
# takes the first images of another setting's file instead of drawing.


rule sample:
    wildcard_constraints:
        preset=preset_pattern(translators=False),
    input:
        checkpoint=f"{RUN_DIR}/checkpoint.pt",
        parent=parent_samples,
    output:
        samples=f"{RUN_DIR}/samples/{{sampler}}.npz",
        record=f"{RUN_DIR}/samples/{{sampler}}.json",
        grid=report(f"{RUN_DIR}/samples/{{sampler}}.png", caption="../report/sample_grid.rst", category="Samples",
                    subcategory="{dataset}", labels={"preset": "{preset}", "sampler": "{sampler}", "seed": "{seed}"}),
    params:
        code=code("sample", per_preset=True),
        sampler=sampler_setting,
        settings=lambda w: settings("threads", "device", "evaluation"),
        parent=parent_samples_arg,
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
        "{params.parent} --out {output.samples} --settings {params.settings:q} > {log} 2>&1"
