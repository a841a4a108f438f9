"""Experiment loggers (W&B, TensorBoard, CSV): who a run is, what it logs, when it finishes.

``run.py`` makes three calls: :func:`build_loggers` before the trainer, :func:`publish_results`
once the result files are written, :func:`finish_loggers` when the job fails.
"""

from ucfbench.loggers.lifecycle import build_loggers, finish_loggers, publish_results

__all__ = ["build_loggers", "finish_loggers", "publish_results"]
