"""Training under Lightning DDP on two CPU processes (gloo): one set of result files, every test video once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from tests.conftest import make_cfg
from ucfbench.utils import resolvers


@pytest.mark.parametrize(
    "accelerator, cuda, bf16, expected",
    [("cpu", True, True, "32-true"), ("auto", False, False, "32-true"), ("gpu", True, True, "bf16-mixed"),
     ("gpu", True, False, "16-mixed"), ("auto", True, True, "bf16-mixed")],
)
def test_amp_precision(accelerator: str, cuda: bool, bf16: bool, expected: str, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert resolvers.amp_precision(accelerator) == expected


def test_gpu_and_ddp_trainer_configs(tmp_path: Path) -> None:
    gpu = make_cfg(tmp_path, ["trainer=gpu"]).trainer
    assert (gpu.accelerator, gpu.devices, gpu.deterministic) == ("gpu", 1, "warn")
    assert gpu.precision in ("bf16-mixed", "16-mixed")
    ddp = make_cfg(tmp_path, ["trainer=ddp"]).trainer
    assert (ddp.strategy, ddp.devices, ddp.num_nodes, ddp.accelerator) == ("ddp", "auto", 1, "gpu")
    cfg = make_cfg(tmp_path, ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"])
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])  # processes start only in fit
    assert type(trainer.strategy).__name__ == "DDPStrategy" and trainer.num_devices == 2
    assert cfg.trainer.precision == "32-true"


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tiny_home: Path, tiny_dataset, tmp_path: Path) -> None:
    run_dir = tmp_path / "ddp-run"
    env = {**os.environ, "UCFBENCH_HOME": str(tiny_home)}
    proc = subprocess.run(
        [sys.executable, "-m", "ucfbench.run", "debug=tiny", "trainer=ddp", "trainer.accelerator=cpu",
         "trainer.devices=2", f"hydra.run.dir={run_dir}"],
        env=env, capture_output=True, text=True, timeout=900,
    )
    out = proc.stdout.replace("\n", "")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert out.count("Results:") == 1  # only rank 0 writes results (rank 1 shares this stdout)

    metrics = json.loads((run_dir / "metrics.json").read_text())
    test_videos = len(tiny_dataset.subset("test"))
    assert metrics["test_videos"] == test_videos  # both ranks' outputs gathered, repeats dropped by index
    assert len((run_dir / "predictions.csv").read_text().splitlines()) == 1 + test_videos
    assert metrics["epochs"] == 2 and 0.0 <= metrics["top1"] <= 1.0
    # The order diagnostics travel through the same gather: order.csv counts every test video once.
    support = sum(int(row.split(",")[2]) for row in (run_dir / "order.csv").read_text().splitlines()[1:])
    assert support == test_videos and 0.0 <= metrics["top1_shuffled"] <= 1.0 and "reversed_to_partner" in metrics

    # Rank 1 re-ran the command (Lightning's relaunch, logging to train_ddp_process_1.log) from rank 0's
    # trainer.fit: it found the dataset and the features rank 0 had made, and extracted nothing.
    rank1_log = (run_dir / "train_ddp_process_1.log").read_text()
    assert "Features cached" in rank1_log and "Extracting" not in rank1_log
