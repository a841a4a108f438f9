"""The LightningModule shared by every model: loss, metrics, optimisation, test outputs."""

from __future__ import annotations

import math
from collections.abc import Callable

import lightning as L
import torch
from torch import nn
from torchmetrics import MetricCollection

from ucfbench.data.types import Batch
from ucfbench.models.classifier import Standardize, VideoClassifier, upgrade_state_dict
from ucfbench.models.metrics import classification_metrics
from ucfbench.models.order import order_probs


class ActionClassifier(L.LightningModule):
    """Trains a :class:`~ucfbench.models.classifier.VideoClassifier` with cross-entropy and reports accuracy.

    A batch whose ``x`` carries a views axis, (B, V, T, ...), is classified by averaging the class
    probabilities of its V clips (test-time views of end-to-end models).

    The classifier is built in :meth:`configure_model` from what the DataModule knows once its data
    is prepared (``num_classes``, ``classes``, ``input_dim``, ``input_stats``), so a config
    builds the module without run-time arguments; :meth:`build` does the same by hand.

    Args:
        net: the head, or a partial completed with ``num_classes`` and ``input_dim`` (the
            features' size: the DataModule's, or the encoder's ``out_dim``) in :meth:`build`.
        optimizer: partial optimizer, completed with the trainable parameters.
        encoder: the frame encoder the model trains with its head (the model reads clips); None:
            the model reads cached features (its frozen encoder ran offline, ``features.encoder``).
        scheduler: partial LR scheduler, completed with the optimizer (None: constant LR).
        num_classes: number of classes; given here, the module is built at once.
        class_names: stored in checkpoints so a trained model names its predictions.
        label_smoothing: cross-entropy label smoothing.
        scheduler_interval: step the scheduler every ``epoch`` or ``step``.
        input_dim: feature size D of a model without an encoder (needed to build it at once).
        input_norm: ``standardize`` puts a :class:`~ucfbench.models.classifier.Standardize` with
            the training split's per-dimension mean/std (saved in checkpoints) before the head;
            ``none`` feeds the features as they are.
    """

    def __init__(
        self,
        *,
        net: nn.Module | Callable[..., nn.Module],
        optimizer: Callable[..., torch.optim.Optimizer],
        encoder: nn.Module | None = None,
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        num_classes: int | None = None,
        class_names: list[str] | None = None,
        label_smoothing: float = 0.0,
        scheduler_interval: str = "epoch",
        input_dim: int | None = None,
        input_norm: str = "none",
    ) -> None:
        super().__init__()
        # The networks and class names travel in the checkpoint as weights and `class_names`.
        self.save_hyperparameters(ignore=["net", "encoder", "optimizer", "scheduler", "class_names"])
        if input_norm not in ("none", "standardize"):
            raise ValueError(f"model.input_norm must be 'none' or 'standardize', got {input_norm!r}")
        # Not submodules until build() makes them the classifier's (a dict is not registered).
        self._parts = {"net": net, "encoder": encoder}
        self.model: VideoClassifier | None = None
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.input_norm = input_norm
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.class_names: list[str] = []
        self._first_nonfinite_step = torch.full((), -1, dtype=torch.long)  # of the current epoch; -1: none
        self._test_outputs: list[dict[str, torch.Tensor]] = []
        self.test_outputs: dict[str, torch.Tensor] = {}
        if num_classes is not None:
            self.build(num_classes=num_classes, class_names=class_names, input_dim=input_dim)

    @property
    def reads(self) -> str:
        """``clips`` (the model has its encoder) or ``features`` (cached by its frozen encoder)."""
        return "features" if self._parts["encoder"] is None else "clips"

    def configure_model(self) -> None:
        """Build the classifier from the DataModule's ``num_classes``, ``classes``, ``input_dim`` and
        ``input_stats`` (Lightning calls this after the data is set up, before restoring a checkpoint)."""
        if self.class_names:  # built (configure_model runs again for test after fit)
            return
        dm = self.trainer.datamodule
        self.build(num_classes=dm.num_classes, class_names=dm.classes, input_dim=dm.input_dim,
                   input_stats=dm.input_stats)

    def build(self, *, num_classes: int, class_names: list[str] | None = None, input_dim: int | None = None,
              input_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> ActionClassifier:
        """Create the classifier, metrics and input statistics for ``num_classes`` classes (once)."""
        assert not self.class_names, "the module is built already"
        net, encoder = self._parts["net"], self._parts["encoder"]
        if encoder is not None:
            input_dim = encoder.out_dim
        self.hparams.update(num_classes=num_classes, input_dim=input_dim)
        head = net if isinstance(net, nn.Module) else net(num_classes=num_classes, input_dim=input_dim)
        norm = None
        if self.input_norm == "standardize":
            assert input_dim, "input_norm=standardize needs input_dim (a model that reads features)"
            norm = Standardize(input_dim)
            if input_stats is not None:
                norm.set(*input_stats)
        self.model = VideoClassifier(head=head, encoder=encoder, norm=norm)
        self.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        metrics = classification_metrics(num_classes)
        self.train_metrics = metrics.clone(prefix="train/")
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")
        return self

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if x.ndim in (4, 6):  # (B, V, T, D) or (B, V, T, 3, H, W): V views (clips) of each video
            b, v = x.shape[:2]
            logits = self(x.flatten(0, 1), lengths.repeat_interleave(v))  # (B*V, C)
            # Average the views' class probabilities; returned as log-probabilities, so softmax
            # (test outputs), argmax (metrics) and the loss all see the averaged prediction.
            return logits.float().log_softmax(-1).view(b, v, -1).logsumexp(1) - math.log(v)  # (B, C)
        return self.model(x, lengths)

    def _step(self, batch: Batch, metrics: MetricCollection, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch["x"], batch["lengths"])
        loss = self.criterion(logits, batch["label"])
        metrics.update(logits, batch["label"])
        bs = batch["label"].shape[0]
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=bs)
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage != "train", batch_size=bs)
        return loss, logits

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor | None:
        if batch["label"].numel() == 0:  # every video of the batch was unreadable (and skipped)
            return None
        loss = self._step(batch, self.train_metrics, "train")[0]
        self._note_nonfinite(loss)
        return loss

    def _note_nonfinite(self, loss: torch.Tensor) -> None:
        """Remember the first step with a non-finite loss, on the device (no sync per step)."""
        first = self._first_nonfinite_step.to(loss.device)
        bad = ~torch.isfinite(loss.detach()) & (first < 0)
        self._first_nonfinite_step = torch.where(bad, torch.full_like(first, self.global_step), first)

    def on_train_epoch_start(self) -> None:
        self._first_nonfinite_step = torch.full((), -1, dtype=torch.long, device=self.device)

    def on_train_batch_end(self, outputs, batch: Batch, batch_idx: int) -> None:
        # Checked every log_every_n_steps batches and at the epoch's last batch (before validation
        # and checkpoints): one host sync per check, not per step.
        every = max(self.trainer.log_every_n_steps, 1)
        if (batch_idx + 1) % every and batch_idx + 1 < self.trainer.num_training_batches:
            return
        # max over DDP ranks: every rank stops at the same batch (none waits in an all-reduce)
        step = int(self.trainer.strategy.reduce(self._first_nonfinite_step, reduce_op="max"))
        if step >= 0:
            raise FloatingPointError(
                f"non-finite training loss at epoch {self.current_epoch}, step {step} (global step): "
                "training stopped. Lower the learning rate (model.optimizer.lr) or check the inputs: "
                "a damaged feature cache can hold NaN or Inf rows (delete its folder under "
                "cache/features/ to extract it again).")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        if batch["label"].numel():
            self._step(batch, self.val_metrics, "val")

    def on_test_epoch_start(self) -> None:
        self._test_outputs = []

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        if batch["label"].numel() == 0:
            return
        _, logits = self._step(batch, self.test_metrics, "test")
        self._test_outputs.append({"probs": logits.float().softmax(-1), "label": batch["label"], "index": batch["index"],
                                   **order_probs(self, batch)})  # the order diagnostics (ucfbench.models.order)

    def on_test_epoch_end(self) -> None:
        out = {k: torch.cat([o[k] for o in self._test_outputs]) for k in self._test_outputs[0]}
        if self.trainer.world_size > 1:  # DDP: gather every rank's videos
            out = {k: self.all_gather(v).flatten(0, 1) for k, v in out.items()}
        # Distributed samplers pad with repeats: keep the first copy of each video, in order.
        order = torch.argsort(out["index"], stable=True)
        out = {k: v[order] for k, v in out.items()}
        keep = torch.ones_like(out["index"], dtype=torch.bool)
        keep[1:] = out["index"][1:] != out["index"][:-1]
        self.test_outputs = {k: v[keep].cpu() for k, v in out.items()}
        self._test_outputs = []

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = self.optimizer_factory(params=params)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.hparams.scheduler_interval}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["class_names"] = self.class_names

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["state_dict"] = upgrade_state_dict(checkpoint["state_dict"])

    def describe(self) -> dict:
        """What ``metrics.json`` records about the model: its size, and the encoder it trains, if any."""
        out = {"params": self.num_parameters()}
        encoder = self.model.encoder
        if encoder is not None:
            describe = getattr(encoder, "describe", None)
            out["features"] = {**(describe() if describe else {"model": type(encoder).__name__}), "end_to_end": True}
        return out

    def num_parameters(self) -> int:
        """Parameters of the classifier, its encoder included when it has one (trainable or not)."""
        return sum(p.numel() for p in self.model.parameters())
