"""What a checkpoint carries for an exact resume, unit by unit: random state, training time,
history rows, metrics that stay apart."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from ucfbench.callbacks.resume import RandomState, TrainTime, collect_random_state, restore_random_state
from ucfbench.models.module import classification_metrics


def _draw() -> tuple:
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random()


def test_random_state_round_trip_through_a_checkpoint(tmp_path) -> None:
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    _draw()
    torch.save({"rng": RandomState().state_dict()}, tmp_path / "c.ckpt")
    expected = _draw()
    _draw()  # move every generator on
    state = torch.load(tmp_path / "c.ckpt", weights_only=True)["rng"]  # loads without pickled code
    RandomState().load_state_dict(state)
    assert _draw() == expected


def test_restore_ignores_missing_cuda_state() -> None:
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    state = collect_random_state()
    expected = _draw()
    state.pop("cuda", None)  # a CPU checkpoint resumes anywhere
    restore_random_state(state)
    assert _draw() == expected


def test_train_time_adds_the_checkpointed_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(TrainTime, "clock", staticmethod(lambda: now[0]))
    first = TrainTime()
    first.on_train_start(None, None)
    now[0] += 30
    saved = first.state_dict()  # a checkpoint, 30 s in
    now[0] += 5  # then killed: these 5 s are redone after the resume
    second = TrainTime()
    second.load_state_dict(saved)
    second.on_train_start(None, None)
    now[0] += 20
    second.on_train_end(None, None)
    now[0] += 99  # testing and writing results are not training
    assert saved == {"train_seconds": 30.0} and second.seconds == 50.0


def test_top5_is_not_merged_with_top1() -> None:
    """torchmetrics' compute groups merged metrics whose states matched after the first update (an
    all-correct first batch, as after a resume): top-5 then reported top-1."""
    metrics = classification_metrics(num_classes=8)
    labels = torch.arange(8)
    metrics.update(torch.eye(8), labels)  # all correct: top-1 and top-5 states are equal
    wrong = torch.eye(8).roll(1, dims=0) * 2 + torch.eye(8)  # the true class ranks second
    metrics.update(wrong, labels)
    result = metrics.compute()
    assert result["top1"] == pytest.approx(0.5) and result["top5"] == pytest.approx(1.0)
