"""Quiet by default: a run prints our own lines and what a user acts on; ``verbose=true`` prints everything.

Each filter names the message's cause. W&B's own output is left to W&B's settings
(``ucfbench/utils/wandb.py``).
"""

from __future__ import annotations

import logging
import warnings

# Lightning's info lines (GPU/TPU available, "Seed set to", the litlogger tip, "Trainer already
# configured with model summary callbacks", "Restoring states from the checkpoint", "`Trainer.fit`
# stopped") go through these loggers; their warnings go through `warnings` and stay visible.
CHATTY_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning.fabric.utilities.seed",
)

# (message regex, why it is noise here)
IGNORED_WARNINGS = (
    # Lightning calls a torch.utils._pytree API that newer torch deprecates: nothing a user can change.
    (r".*isinstance\(treespec, LeafSpec\)", "Lightning vs torch pytree API"),
    # With an OnExceptionCheckpoint callback, Lightning turns fit(ckpt_path=None) into
    # ckpt_path="last" and warns twice: "called without a model" (we pass one) and "no last
    # checkpoint ... HINT: save_last=True" (save_last is set; a new run simply has none yet).
    # resume=true passes the checkpoint explicitly, so neither message applies to us.
    (r".*\.fit\(ckpt_path=None\)` was called without a model", "OnExceptionCheckpoint + fit(ckpt_path=None)"),
    (r".*\.fit\(ckpt_path=\"last\"\) is set, but there is no last checkpoint", "first epoch of a new run"),
    # Lightning finds `srun` (a login node, a workstation with SLURM installed) and suggests it; a
    # run under SLURM is started by srun (submitit does) and never sees this.
    (r"The `srun` command is available on your system but is not used", "SLURM installed, run outside it"),
    # A resumed run (resume=true, a requeued SLURM job) writes into its own checkpoints/ folder again
    # and loads its own last.ckpt (a full checkpoint, not only weights).
    (r"Checkpoint directory .* exists and is not empty", "resumed run, its own folder"),
    (r"`weights_only` was not set, defaulting to `False`", "resumed run loads its own checkpoint"),
)

# Loggers that write from signal handlers (Lightning's "Received SIGTERM", submitit's "Bypassing
# signal"): a handler interrupting the rich terminal handler mid-line re-enters it ("--- Logging
# error ---"). Lightning's are info lines; submitit's keep its own stderr handler, not the terminal's.
SIGNAL_LOGGERS = ("lightning.pytorch.trainer.connectors.signal_connector",)


def setup_output(*, verbose: bool = False) -> None:
    """Silence the lines a user cannot act on (the signal handlers' lines even with ``verbose``)."""
    for name in SIGNAL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("submitit").propagate = False
    if verbose:
        return
    for pattern, _why in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
