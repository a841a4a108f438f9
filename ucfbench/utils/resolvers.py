"""OmegaConf resolvers the configs use: ``${amp_precision:...}``, ``${mixed_precision:...}``, ``${ucfbench_home:}``,
``${unique_dir:...}``, ``${wandb_offline:}``, and the dataset's facts ``${dataset_frame_size:...}``,
``${dataset_weights:...}``."""

from __future__ import annotations

import logging
import os

import torch
from omegaconf import DictConfig, OmegaConf

from ucfbench.utils.io import is_write_failure, write_error
from ucfbench.utils.wandb_mode import wandb_offline

log = logging.getLogger(__name__)


def ucfbench_home() -> str:
    """Where the suite writes ``data/``, ``cache/`` and ``runs/``: ``$UCFBENCH_HOME``, else the launch directory.

    Not ``${hydra:runtime.cwd}``: Hydra's sweeper resolves ``hydra.sweep.dir`` (which lives under
    this directory) before it sets the Hydra config, and ``oc.env`` resolves its default eagerly.
    Jobs never change directory (``hydra.job.chdir`` is false), so the working directory is the
    launch directory in every job.
    """
    return os.path.abspath(os.environ.get("UCFBENCH_HOME") or os.getcwd())


_CLAIMED: dict[str, str] = {}  # unique_dir: what this process claimed, by requested path


def _nonzero_rank() -> bool:
    """A DDP rank other than 0 started by srun/torchrun (it must not claim a directory of its own)."""
    return any(int(os.environ.get(k) or 0) > 0 for k in ("RANK", "LOCAL_RANK", "SLURM_PROCID"))


def unique_dir(path: str) -> str:
    """``path``, or ``path_1``, ``path_2``, ... : the first of them this process creates itself.

    The run directory of a job (``hydra.run.dir``) and the folder of a multirun
    (``hydra.sweep.dir``): two jobs started in the same second get two directories. The claim is
    ``os.mkdir`` without ``exist_ok``, atomic on local and network filesystems, so two processes
    never both succeed. Hydra may resolve the same key more than once: a process gets back what it
    claimed for the same ``path``. A DDP rank other than 0 started by srun/torchrun gets ``path``
    unclaimed (give such jobs ``hydra.run.dir`` explicitly so every rank writes to one directory).
    """
    if path in _CLAIMED:
        return _CLAIMED[path]
    if _nonzero_rank():
        return path
    candidate, n = path, 0
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        while True:
            try:
                os.mkdir(candidate)
                break
            except FileExistsError:
                n += 1
                candidate = f"{path}_{n}"
    except OSError as err:
        if is_write_failure(err):  # a read-only or full home: a user error naming the folder
            raise write_error(candidate, err, what="create the run directory",
                              hint="(or set UCFBENCH_HOME or hydra.run.dir elsewhere)") from err
        raise
    _CLAIMED[path] = candidate
    return candidate


def amp_precision(accelerator: str = "gpu") -> str:
    """Lightning precision for a trainer on ``accelerator``: mixed precision on CUDA, full on CPU.

    ``bf16-mixed`` where the GPU supports bfloat16 (no loss scaling needed), else ``16-mixed``;
    ``32-true`` for ``accelerator=cpu`` (or ``auto`` without CUDA), where 16-bit AMP is not offered.
    Resolved where the trainer is built, so a config composed on a login node is right on the GPU node.
    """
    if accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available()):
        return "32-true"
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "16-mixed"


def mixed_precision(precision: str, accelerator: str = "auto") -> str:
    """``precision`` (e.g. the CNN-RNN write-up's ``16-mixed``) where the trainer runs on CUDA, else ``32-true``.

    16-bit AMP needs a GPU; on CPU the run falls back to full precision and says so.
    """
    if accelerator == "cpu" or (accelerator in ("auto", "gpu", "cuda") and not torch.cuda.is_available()):
        log.warning("trainer.precision: %s needs CUDA; training in 32-true on CPU", precision)
        return "32-true"
    return precision


def dataset_frame_size(default: int | None, *, _root_: DictConfig) -> int | None:
    """``${dataset_frame_size:224}``: the configured dataset's ``frame_size`` (the synthetic set's
    generated size), else ``default`` (the backbone's own). Read, not written: no order to keep."""
    size = OmegaConf.select(_root_, "dataset.frame_size", default=None)
    return default if size is None else size


def dataset_weights(weights: str | None, *, _root_: DictConfig) -> str | None:
    """``${dataset_weights:IMAGENET1K_V1}``: ``weights``, or None (a random init) where the configured
    dataset declares ``pretrained_weights: false`` (the synthetic set's generated shapes)."""
    return weights if OmegaConf.select(_root_, "dataset.pretrained_weights", default=True) else None


def register_resolvers() -> None:
    """Register the resolvers the configs use (this module's docstring lists them)."""
    for name, resolver in (("wandb_offline", wandb_offline), ("amp_precision", amp_precision),
                           ("mixed_precision", mixed_precision), ("ucfbench_home", ucfbench_home),
                           ("unique_dir", unique_dir), ("dataset_frame_size", dataset_frame_size),
                           ("dataset_weights", dataset_weights)):
        if not OmegaConf.has_resolver(name):
            # unique_dir's cache: Hydra copies a resolver's cache into each job's config (also to launcher workers).
            OmegaConf.register_new_resolver(name, resolver, use_cache=name == "unique_dir")
