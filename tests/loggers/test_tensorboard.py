"""TensorBoard: the resolved config as hparams, metrics.json as scalars; loggers combine."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import make_cfg
from ucfbench.run import train


def test_logger_choices_combine(tmp_path: Path) -> None:
    for choice, names in (("tensorboard", ["tensorboard"]), ("[tensorboard,csv]", ["tensorboard", "csv"]),
                          ("[wandb,csv]", ["wandb", "csv"]), ("none", [])):
        assert list(make_cfg(tmp_path, [f"logger={choice}"]).logger or {}) == names
    assert list(make_cfg(tmp_path, ["experiment=synthetic_study"]).logger) == ["wandb", "csv"]


@pytest.mark.slow
def test_tensorboard_holds_config_and_results(tiny_cfg, tmp_path: Path) -> None:
    metrics = train(tiny_cfg("logger=[tensorboard,csv]"))
    run_dir = tmp_path / "run"
    assert (run_dir / "csv" / "metrics.csv").is_file()
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    scalars = events.Tags()["scalars"]
    for key in ("top1", "top5", "mean_class_acc", "best_val_top1", "params", "train_seconds"):
        (value,) = [e.value for e in events.Scalars(f"results/{key}")]
        assert value == pytest.approx(metrics[key], rel=1e-5), key
    assert "results/within_pair/Grow/Shrink/acc" in scalars and "val/top1" in scalars
    hparams = (run_dir / "tensorboard" / "hparams.yaml").read_text()
    assert "cfg:" in hparams and "max_epochs: 2" in hparams and "model: gru" in hparams
    assert events.PluginTagToContent("hparams")  # the HPARAMS tab has this run
