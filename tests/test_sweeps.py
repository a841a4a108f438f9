"""Sweeps and launchers: the Optuna search composes and runs; the SLURM launcher configs compose."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra.types import RunMode
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from tests.conftest import make_cfg


def test_gru_optuna_composes(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, ["hparams_search=gru_optuna", "seed=7"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.runtime.choices["hydra/sweeper"] == "optuna"
    assert sweeper.direction == "maximize" and sweeper.n_trials == 20  # run.py returns val top-1
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed == 7
    assert set(sweeper.params) == {"model.net.hidden_dim", "model.optimizer.lr"}
    assert "interval" in sweeper.params["model.optimizer.lr"] and "log" in sweeper.params["model.optimizer.lr"]
    assert cfg.hydra.mode == RunMode.MULTIRUN and cfg.model.net._target_.endswith("GRUHead")
    for hidden in (128, 256, 512):  # every width the search can draw builds
        net_cfg = make_cfg(tmp_path, ["hparams_search=gru_optuna", f"model.net.hidden_dim={hidden}"]).model.net
        assert instantiate(net_cfg)(input_dim=8, num_classes=3).rnn.hidden_size == hidden


@pytest.mark.parametrize("launcher", ["submitit_slurm", "slurm_one_gpu"])
def test_slurm_launcher_composes(launcher: str, tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, [f"hydra/launcher={launcher}", "hydra.launcher.gpus_per_node=1",
                              "hydra.launcher.tasks_per_node=1", "hydra.launcher.timeout_min=60",
                              "hydra.launcher.partition=gpu"])
    launcher_cfg = OmegaConf.to_container(cfg.hydra.launcher)
    assert launcher_cfg["_target_"] == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert get_class(launcher_cfg["_target_"])  # the plugin (and submitit) import
    assert (launcher_cfg["gpus_per_node"], launcher_cfg["tasks_per_node"], launcher_cfg["nodes"]) == (1, 1, 1)
    assert launcher_cfg["partition"] == "gpu" and launcher_cfg["timeout_min"] == 60


def test_slurm_one_gpu_defaults(tmp_path: Path) -> None:
    launcher = make_cfg(tmp_path, ["hydra/launcher=slurm_one_gpu"]).hydra.launcher
    assert launcher.gpus_per_node == 1 and launcher.tasks_per_node == 1 and launcher.partition is None


@pytest.mark.slow
def test_optuna_sweep_runs_two_trials(tiny_home: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    env = {**os.environ, "UCFBENCH_HOME": str(tiny_home)}
    proc = subprocess.run(
        [sys.executable, "-m", "ucfbench.run", "-m", "hparams_search=gru_optuna", "debug=tiny",
         "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={sweep_dir}"],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    metrics = sorted(sweep_dir.glob("*/metrics.json"))
    assert [p.parent.name for p in metrics] == ["0", "1"]
    trials = [yaml.safe_load((p.parent / ".hydra" / "overrides.yaml").read_text()) for p in metrics]
    for trial in trials:
        hidden = next(o for o in trial if o.startswith("model.net.hidden_dim="))
        assert int(hidden.split("=")[1]) in (128, 256, 512)
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["name"] == "optuna" and set(results["best_params"]) == {"model.net.hidden_dim",
                                                                            "model.optimizer.lr"}
    best = max(json.loads(p.read_text())["best_val_top1"] for p in metrics)
    assert results["best_value"] == pytest.approx(best)  # optimised on validation top-1
