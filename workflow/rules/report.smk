# Comparison report across families and datasets: reports/all/{index.html, report.md, summary.csv, ...}.


rule report:
    input:
        metrics=expand_runs(RUN_DIR + "/metrics/{sampler}.json"),
        samples=expand_runs(RUN_DIR + "/samples/{sampler}.json"),
        summaries=expand_runs(RUN_DIR + "/train_summary.json"),
        benchmarks=expand_runs(RUN_DIR + "/train.benchmark.tsv"),
        classifiers=expand(DOMAIN_DIR + "/classifier.json", dataset=PROFILE.datasets),
    output:
        directory("reports/all"),
    params:
        settings=lambda w: settings("datasets", "presets", "seeds"),
    log:
        LOGS + "/report.log",
    threads: 1
    shell:
        "genbench report --results {RESULTS} --out {output} --settings {params.settings:q} > {log} 2>&1"
