"""Progressive fine-tuning of an end-to-end model's backbone (the CNN-RNN write-up's recipe)."""

from __future__ import annotations

import logging

import lightning as L
from lightning.pytorch.callbacks import BaseFinetuning
from torch.optim import Optimizer

from ucfbench.backbones.trainable import STAGES

log = logging.getLogger(__name__)


def _schedulers(scheduler: object) -> list[object]:
    """A scheduler and those it chains (``SequentialLR``, ``ChainedScheduler``)."""
    inner = getattr(scheduler, "_schedulers", None) or []
    return [scheduler, *(s for child in inner for s in _schedulers(child))]


class ProgressiveUnfreeze(BaseFinetuning):
    """Backbone frozen until ``unfreeze_epoch``, then its ``finetune_layers`` train.

    The classifier's encoder must be a :class:`~ucfbench.backbones.trainable.Backbone2D`. Before
    training every backbone stage is frozen, so the optimizer starts with the other parameters only;
    at the start of epoch ``unfreeze_epoch`` the backbone's ``finetune_layers`` become trainable
    and join the optimizer as a new parameter group. Its learning rate is
    ``lr_factor`` times the optimizer's base rate, scaled by where the LR schedule is now, and
    every LR scheduler learns about the group, so it follows the same warmup/cosine curve.
    Resuming from a checkpoint restores the group (BaseFinetuning stores it).

    Args:
        unfreeze_epoch: first epoch in which the ``finetune_layers`` train (0: from the start).
        lr_factor: the backbone group's learning rate relative to the rest of the model.
        train_random_backbone: a backbone without pretrained weights (``weights=null``) trains
            whole (every stage) from epoch 0: freezing protects pretrained weights from the untrained
            head's first gradients, and a random backbone has nothing to protect; set false
            to apply ``unfreeze_epoch`` and ``finetune_layers`` to it as well.
    """

    def __init__(self, *, unfreeze_epoch: int = 5, lr_factor: float = 1.0, train_random_backbone: bool = True) -> None:
        super().__init__()
        if unfreeze_epoch < 0 or lr_factor <= 0:
            raise ValueError(f"need unfreeze_epoch >= 0 and lr_factor > 0, got {unfreeze_epoch} and {lr_factor}")
        self.unfreeze_epoch = unfreeze_epoch
        self.lr_factor = lr_factor
        self.train_random_backbone = train_random_backbone

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Lightning sets callbacks up before it calls configure_model, where the module builds its
        # network from the DataModule: build it now (configure_model is idempotent) to freeze it.
        pl_module.configure_model()
        super().setup(trainer, pl_module, stage)

    @staticmethod
    def _backbone(pl_module: L.LightningModule):
        backbone = getattr(getattr(pl_module, "model", None), "encoder", None)
        if backbone is None or not hasattr(backbone, "stages"):
            raise TypeError("ProgressiveUnfreeze needs a trainable encoder (model.encoder: a Backbone2D); "
                            "use it with model=cnn_rnn")
        return backbone

    def _plan(self, backbone) -> tuple[int, list]:
        """(epoch, stages) to unfreeze for this backbone."""
        if not backbone.pretrained and self.train_random_backbone:
            return 0, backbone.stages(STAGES)
        return self.unfreeze_epoch, backbone.stages()

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        backbone = self._backbone(pl_module)
        self.freeze(backbone, train_bn=False)  # BatchNorm too: statistics stay as loaded
        epoch, stages = self._plan(backbone)
        names = "all stages" if len(stages) == len(STAGES) else ", ".join(backbone.finetune_layers) or "nothing"
        if not backbone.pretrained and self.train_random_backbone:
            log.info("Backbone has no pretrained weights: training all of it from epoch 0")
        else:
            log.info("Backbone frozen until epoch %d, then training %s", epoch, names)

    def finetune_function(self, pl_module: L.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        start, stages = self._plan(self._backbone(pl_module))
        if epoch < start or not stages:
            return
        params = [p for m in stages for p in m.parameters()]
        in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
        if all(id(p) in in_optimizer for p in params):
            if not all(p.requires_grad for p in params):  # resumed after the unfreeze: group restored
                self.make_trainable(stages)
            return
        self.make_trainable(stages)
        self._add_group(pl_module, optimizer, [p for p in params if id(p) not in in_optimizer])
        log.info("Epoch %d: unfroze %d backbone parameter tensors", epoch, len(params))

    def _add_group(self, pl_module: L.LightningModule, optimizer: Optimizer, params: list) -> None:
        schedulers = [s for cfg in pl_module.trainer.lr_scheduler_configs for s in _schedulers(cfg.scheduler)]
        first = optimizer.param_groups[0]
        base = first.get("initial_lr", first["lr"])
        base_lr = self.lr_factor * base
        # Join the schedule where it is now: the same multiplier of the base rate as the first group.
        optimizer.add_param_group({"params": params, "lr": base_lr * first["lr"] / base, "initial_lr": base_lr})
        for s in schedulers:
            if hasattr(s, "base_lrs") and len(s.base_lrs) < len(optimizer.param_groups):
                s.base_lrs.append(base_lr)
            if hasattr(s, "_last_lr") and len(s._last_lr) < len(optimizer.param_groups):
                s._last_lr.append(optimizer.param_groups[-1]["lr"])
