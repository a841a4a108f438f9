"""Lightning callbacks and plugins that make a run safe to interrupt and resume.

* :mod:`.resume`: the random state (:class:`RandomState`) and the training time (:class:`TrainTime`)
  travel in every checkpoint, so a resumed run continues exactly where the checkpoint was taken.
* :mod:`.checkpointing`: checkpoints are written atomically (:class:`AtomicCheckpointIO`) and a
  full disk leaves no truncated or empty ``.ckpt`` behind (:class:`SafeOnExceptionCheckpoint`); a
  resumed run leaves no orphan or ``-v1`` checkpoint (:class:`RunCheckpoint`).

They live beside the models, not in ``ucfbench.eval`` or ``ucfbench.utils``: they are part of
training (the Trainer's state), configured in ``conf/callbacks/`` and ``conf/trainer/``.
"""

from ucfbench.callbacks.checkpointing import AtomicCheckpointIO, RunCheckpoint, SafeOnExceptionCheckpoint
from ucfbench.callbacks.resume import RandomState, TrainTime, fit_seconds

__all__ = ["AtomicCheckpointIO", "RandomState", "RunCheckpoint", "SafeOnExceptionCheckpoint", "TrainTime", "fit_seconds"]
