"""Lightning callbacks and plugins that make a run safe to interrupt and resume.

* :mod:`.resume`: the random state (:class:`RandomState`) and the training time (:class:`TrainTime`)
  travel in every checkpoint, so a resumed run continues exactly where the checkpoint was taken;
  :class:`Restarts` counts the resumes; a job SLURM started again resumes by itself.
* :mod:`.checkpointing`: checkpoints are written atomically (:class:`AtomicCheckpointIO`) and a
  full disk leaves no truncated or empty ``.ckpt`` behind (:class:`SafeOnExceptionCheckpoint`); a
  resumed run leaves no orphan or ``-v1`` checkpoint (:class:`RunCheckpoint`).

They live beside the models, not in ``ucfbench.eval`` or ``ucfbench.utils``: they are part of
training (the Trainer's state), configured in ``conf/callbacks/`` and ``conf/trainer/``.
"""

from ucfbench.callbacks.checkpointing import (
                                       AtomicCheckpointIO,
                                       RunCheckpoint,
                                       SafeOnExceptionCheckpoint,
                                       epochs_trained,
)
from ucfbench.callbacks.resume import (
                                       RandomState,
                                       Restarts,
                                       TrainTime,
                                       fit_seconds,
                                       resume_info,
                                       scheduler_restarts,
                                       slurm_plugins,
)

__all__ = ["AtomicCheckpointIO", "RandomState", "Restarts", "RunCheckpoint", "SafeOnExceptionCheckpoint", "TrainTime",
           "epochs_trained", "fit_seconds", "resume_info", "scheduler_restarts", "slurm_plugins"]
