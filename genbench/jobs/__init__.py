"""The pipeline's jobs: each reads its input files, runs a model or a metric, writes its outputs and does its
own tracking (MLflow), so that the CLI only parses arguments and calls one of them.

train (one (dataset, preset, seed)), sample and translate (a checkpoint's images), reference (real features),
evaluate (metrics records of sample files; evaluate_translation: the image-to-image task metrics), memorisation,
training_curve, likelihood, input_metrics (``genbench metrics`` on any two inputs); trained_run holds what the
measuring jobs read of a train job's summary. Below them: the training loop (genbench.train), the algorithms
(models, samplers, features, data) and the metric maths (genbench.metrics); above them only the CLI and the report
(tests/test_import_graph.py).
"""
