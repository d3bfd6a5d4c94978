"""The pipeline's jobs: each reads its input files, runs a model or a metric, writes its outputs and does its
own tracking (MLflow), so that the CLI only parses arguments and calls one of them.

train (one (dataset, preset, seed)), sample and translate (a checkpoint's images), evaluate (metrics records of
sample files), evaluate_translation (image-to-image task metrics), memorisation, training_curve, likelihood.
Below them: the training loop (genbench.train), the algorithms (models, samplers, features, data) and the
metric maths (genbench.metrics); above them only the CLI and the report (tests/test_import_graph.py).
"""
