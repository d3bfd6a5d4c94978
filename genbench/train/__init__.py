"""Generic training: the loop (``loop.fit``), EMA, checkpoints and the train job."""
