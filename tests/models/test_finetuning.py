"""Progressive unfreezing, and resuming a run from ``last.ckpt`` (epoch, optimizer, scheduler)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch.utils.data import DataLoader, Dataset

from ucfbench.backbones.trainable import Backbone2D
from ucfbench.data.types import Batch
from ucfbench.models.finetuning import ProgressiveUnfreeze
from ucfbench.models.heads.temporal import TemporalHead
from ucfbench.models.module import ActionClassifier
from ucfbench.models.schedulers import warmup_cosine

T, S, C = 2, 16, 3


class RandomClips(Dataset):
    """A few random (T, 3, S, S) clips with fixed labels."""

    def __init__(self, n: int = 8) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, T, 3, S, S, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> Batch:
        return Batch(x=self.x[i], lengths=torch.tensor(T), label=torch.tensor(i % C), index=torch.tensor(i))


def _model(finetune_layers=("layer4",)) -> ActionClassifier:
    torch.manual_seed(0)
    encoder = Backbone2D(weights=None, finetune_layers=list(finetune_layers))
    return ActionClassifier(
        net=TemporalHead(input_dim=encoder.out_dim, num_classes=C, hidden_dim=8, attention_dim=8), encoder=encoder,
        num_classes=C, optimizer=functools.partial(torch.optim.Adam, lr=1e-2, weight_decay=1e-4),
        scheduler=functools.partial(warmup_cosine, warmup_epochs=2, max_epochs=5),
    )


def _trainer(root: Path, *callbacks: Callback, max_epochs: int, unfreeze_epoch: int = 2) -> L.Trainer:
    finetune = ProgressiveUnfreeze(unfreeze_epoch=unfreeze_epoch, train_random_backbone=False)
    return L.Trainer(
        accelerator="cpu", max_epochs=max_epochs, logger=False, enable_progress_bar=False, enable_model_summary=False,
        deterministic=True, num_sanity_val_steps=0,
        callbacks=[finetune, *callbacks, ModelCheckpoint(dirpath=root / "checkpoints", save_last=True)],
    )


def _loader() -> DataLoader:
    return DataLoader(RandomClips(), batch_size=4)


class Snapshots(Callback):
    """The backbone's parameters and buffers at the start and the end of every epoch."""

    def __init__(self) -> None:
        self.start: dict[int, dict[str, torch.Tensor]] = {}
        self.end: dict[int, dict[str, torch.Tensor]] = {}
        self.groups: dict[int, int] = {}

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start[trainer.current_epoch] = copy.deepcopy(pl_module.model.encoder.state_dict())
        self.groups[trainer.current_epoch] = len(trainer.optimizers[0].param_groups)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.end[trainer.current_epoch] = copy.deepcopy(pl_module.model.encoder.state_dict())


def _changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    """ResNet stages (``conv1``, ``layer4``...) with any parameter or statistic changed."""
    return {k.split(".")[1] for k in before if not torch.equal(before[k], after[k]) and "num_batches" not in k}


@pytest.mark.parametrize("bn_eval", [True, False])
def test_backbone_frozen_before_the_unfreeze_epoch_then_only_finetune_layers_change(tmp_path: Path, bn_eval) -> None:
    model = _model(finetune_layers=["layer4"])
    model.model.encoder.bn_eval = bn_eval
    snaps = Snapshots()
    trainer = _trainer(tmp_path, snaps, max_epochs=4, unfreeze_epoch=2)
    trainer.fit(model, train_dataloaders=_loader(), val_dataloaders=_loader())
    for epoch in (0, 1):  # frozen: nothing in the backbone moves, not even BatchNorm statistics
        assert _changed(snaps.start[epoch], snaps.end[epoch]) == set(), epoch
        assert snaps.groups[epoch] == 1
    for epoch in (2, 3):
        assert _changed(snaps.start[epoch], snaps.end[epoch]) == {"layer4"}, epoch
    assert snaps.groups[2] == 2  # the optimizer picked up the newly trainable parameters


def test_new_parameter_group_follows_the_lr_schedule(tmp_path: Path) -> None:
    lrs: list[list[float]] = []

    class LRs(Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            lrs.append([g["lr"] for g in trainer.optimizers[0].param_groups])

    trainer = _trainer(tmp_path, LRs(), max_epochs=5, unfreeze_epoch=2)
    trainer.fit(_model(), train_dataloaders=_loader(), val_dataloaders=_loader())
    assert [len(g) for g in lrs] == [1, 1, 2, 2, 2]
    for head, backbone in lrs[2:]:  # lr_factor 1: the same rate as the rest of the model
        assert backbone == pytest.approx(head)
    assert lrs[3][0] < lrs[2][0]  # cosine decay, applied to both groups


def test_random_backbone_trains_whole_from_epoch_zero(tmp_path: Path) -> None:
    snaps = Snapshots()
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False,
                        callbacks=[ProgressiveUnfreeze(unfreeze_epoch=5), snaps])
    trainer.fit(_model(finetune_layers=["layer4"]), train_dataloaders=_loader())
    assert _changed(snaps.start[0], snaps.end[0]) == {"conv1", "bn1", "layer1", "layer2", "layer3", "layer4"}


class Crash(RuntimeError):
    """A failure in the middle of training."""


class Interrupt(Callback):
    """Records the training state at the start of ``epoch`` and stops the run there, as a crash would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.state: dict | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            self.state = _training_state(trainer)
            raise Crash(f"interrupted at the start of epoch {self.epoch}")


class Record(Callback):
    """The training state at the start of the first epoch this run trains."""

    def __init__(self) -> None:
        self.state: dict | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.state is None:
            self.state = _training_state(trainer)


def _training_state(trainer: L.Trainer) -> dict:
    return {
        "epoch": trainer.current_epoch,
        "global_step": trainer.global_step,
        "optimizer": copy.deepcopy(trainer.optimizers[0].state_dict()),
        "scheduler": copy.deepcopy(trainer.lr_scheduler_configs[0].scheduler.state_dict()),
        "trainable": sorted(n for n, p in trainer.lightning_module.named_parameters() if p.requires_grad),
        "weights": copy.deepcopy(trainer.lightning_module.state_dict()),
    }


def _assert_same(a: object, b: object, where: str = "") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


def test_resume_continues_with_the_same_epoch_optimizer_and_scheduler(tmp_path: Path) -> None:
    # Interrupted at the start of epoch 3: epochs 0-2 ran, the backbone unfroze in epoch 1.
    stop = Interrupt(epoch=3)
    with pytest.raises(Crash):
        _trainer(tmp_path, stop, max_epochs=5, unfreeze_epoch=1).fit(
            _model(), train_dataloaders=_loader(), val_dataloaders=_loader())
    assert stop.state is not None and len(stop.state["optimizer"]["param_groups"]) == 2
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 2

    record = Record()
    resumed = _trainer(tmp_path, record, max_epochs=5, unfreeze_epoch=1)
    resumed.fit(_model(), train_dataloaders=_loader(), val_dataloaders=_loader(), ckpt_path=str(last))
    assert record.state["epoch"] == 3 and record.state["global_step"] == stop.state["global_step"]
    for key in ("optimizer", "scheduler", "trainable", "weights"):
        _assert_same(stop.state[key], record.state[key], key)
    assert resumed.current_epoch == 5
