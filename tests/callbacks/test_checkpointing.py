"""Atomic checkpoints: a full disk leaves the previous checkpoint whole and no partial file."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch

from ucfbench.callbacks import checkpointing
from ucfbench.callbacks.checkpointing import AtomicCheckpointIO, SafeOnExceptionCheckpoint, is_disk_full
from ucfbench.utils.io import WriteError


def _disk_full_after(calls: int):
    """A stand-in for the disk write: the first ``calls`` writes succeed, later ones write half
    their bytes and fail as a full disk does."""
    real = checkpointing._write_bytes
    count = [0]

    def write(f, data) -> None:
        count[0] += 1
        if count[0] <= calls:
            return real(f, data)
        f.write(bytes(data)[: len(data) // 2])
        f.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


def test_disk_full_keeps_the_old_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    io, path = AtomicCheckpointIO(), tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"epoch": 1, "w": torch.arange(1000.0)}, path)
    monkeypatch.setattr(checkpointing, "_write_bytes", _disk_full_after(0))
    with pytest.raises(WriteError, match="cannot write .*last.ckpt.*the disk is full") as info:
        io.save_checkpoint({"epoch": 2, "w": torch.zeros(1000)}, path)
    assert is_disk_full(info.value) and "hydra.run.dir" in str(info.value)
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temporary file left
    assert torch.load(path, weights_only=True)["epoch"] == 1  # the previous checkpoint, whole


def test_temporary_file_of_a_killed_write_is_removed(tmp_path: Path) -> None:
    (tmp_path / ".last.ckpt.12345.0123abcd.tmp").write_bytes(b"half a checkpoint")  # kill -9 mid-write
    AtomicCheckpointIO().save_checkpoint({"epoch": 3}, tmp_path / "last.ckpt")
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
    assert torch.load(tmp_path / "last.ckpt", weights_only=True) == {"epoch": 3}


def test_new_checkpoint_on_a_full_disk_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpointing, "_write_bytes", _disk_full_after(0))
    with pytest.raises(WriteError, match="best-epoch000.ckpt"):
        AtomicCheckpointIO().save_checkpoint({"w": torch.ones(10)}, tmp_path / "best-epoch000.ckpt")
    assert list(tmp_path.iterdir()) == []


def test_no_on_exception_checkpoint_before_anything_trained(tmp_path: Path) -> None:
    class Trainer:  # an error while the data is prepared: step 0 of epoch 0
        global_step, current_epoch = 0, 0

        def save_checkpoint(self, path) -> None:
            raise AssertionError("on_exception.ckpt written before any training step")

    SafeOnExceptionCheckpoint(dirpath=tmp_path).on_exception(Trainer(), None, RuntimeError("no dataset"))
    assert list(tmp_path.iterdir()) == []


def test_no_on_exception_checkpoint_when_the_disk_is_full(tmp_path: Path) -> None:
    class Trainer:  # save_checkpoint must not be reached
        def save_checkpoint(self, path) -> None:
            raise AssertionError("on_exception.ckpt written on a full disk")

    callback = SafeOnExceptionCheckpoint(dirpath=tmp_path)
    error = OSError(errno.ENOSPC, "could not write checkpoint")
    callback.on_exception(Trainer(), None, error)
    try:
        raise RuntimeError("wrapped") from error
    except RuntimeError as wrapped:
        callback.on_exception(Trainer(), None, wrapped)
    assert list(tmp_path.iterdir()) == []


def test_disk_full_during_training(tiny_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Epoch 0's checkpoints are written; the disk fills up at epoch 1: the run fails naming the
    checkpoint, every .ckpt left is whole, and there is no on_exception.ckpt and no temporary file."""
    from ucfbench.run import train

    monkeypatch.setattr(checkpointing, "_write_bytes", _disk_full_after(2))  # best-epoch000 + last
    with pytest.raises(WriteError, match=r"cannot write .*checkpoints/.*\.ckpt.*the disk is full"):
        train(tiny_cfg("trainer.max_epochs=3", "model.net.hidden_dim=16"))
    ckpts = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["best-epoch000.ckpt", "last.ckpt"]
    for path in ckpts.iterdir():
        assert torch.load(path, map_location="cpu", weights_only=False)["epoch"] == 0
