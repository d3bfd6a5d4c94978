# Comparison report across families and datasets: reports/all/{index.html, report.md, summary.csv, ...}.


rule report:
    input:
        metrics=metrics_outputs(),
        samples=expand_runs(f"{RUN_DIR}/samples/{{sampler}}.json"),
        summaries=expand_runs(f"{RUN_DIR}/train_summary.json"),
        configs=expand_runs(f"{RUN_DIR}/config.yaml"),  # the reference rows' settings against the papers'
        benchmarks=expand_runs(f"{RUN_DIR}/train.benchmark.tsv"),
        classifiers=expand(f"{DOMAIN_DIR}/classifier.json", dataset=classifier_datasets()),
        experiments=experiment_outputs(),
        memorisation=memorisation_outputs(),
        likelihood=likelihood_outputs(),
        training_curves=training_curve_outputs(),
        # hype.html: generated images of each model, real test images of each dataset
        sample_arrays=expand_runs(f"{RUN_DIR}/samples/{{sampler}}.npz"),
        real=sorted({f"data/{run['dataset']}/test.npz" for run in runs()}),
    output:
        report(directory("reports/all"), patterns=["{name}.html", "{name}.csv"], caption="../report/comparison.rst",
               category="Comparison report"),
    params:
        code=code("report"),
        # overrides: each preset's main sampler (its first-screen row) may be a profile's
        settings=lambda w: settings("datasets", "presets", "seeds", "preset_datasets", "report", "overrides"),
        # results/<profile>, from results/<profile>/<dataset>/domain/classifier.json
        results=lambda w, input: os.path.dirname(os.path.dirname(os.path.dirname(input.classifiers[0]))),
    log:
        f"{LOGS}/report.log",
    benchmark:
        f"{LOGS}/report.benchmark.tsv",
    threads: 1
    conda:
        "../envs/genbench.yaml"
    shell:
        "genbench report --results {params.results} --out {output} --settings {params.settings:q} > {log} 2>&1"
