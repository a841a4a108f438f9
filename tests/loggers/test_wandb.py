"""W&B end to end, offline, decoded with the SDK's own records: what a study's dashboard would hold."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.loggers.wandb_records import offline_runs
from ucfbench.run import train

IDENTITY_KEYS = {"model", "variant", "dataset", "protocol", "split", "fold", "seed", "leaky", "study", "backbone",
                 "params"}


def _offline_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WANDB_API_KEY"}
    return {**env, "WANDB_MODE": "offline", "HOME": str(home), "NETRC": str(home / "no-netrc"), "OMP_NUM_THREADS": "1"}


@pytest.fixture
def offline(monkeypatch, tmp_path: Path) -> None:
    for key, value in _offline_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


@pytest.fixture(scope="module")
def study(tiny_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 2-model x 2-split multirun on the tiny set, W&B offline: (sweep dir, terminal output)."""
    sweep = tmp_path_factory.mktemp("study") / "sweep"
    env = {**_offline_env(sweep.parent), "UCFBENCH_HOME": str(tiny_home)}
    proc = subprocess.run(
        [sys.executable, "-m", "ucfbench.run", "-m", "debug=tiny", "logger=[wandb,csv]", "model=gru,mean_pool",
         "dataset.split=1,2", f"hydra.sweep.dir={sweep}"],
        env=env, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return sweep, proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_study_is_one_group_of_named_runs(study: tuple[Path, str]) -> None:
    sweep, output = study
    runs = offline_runs(sweep, "*/wandb/offline-run-*")
    assert sorted(r.name for r in runs) == ["synthetic-s1-gru-seed42", "synthetic-s1-mean_pool-seed42",
                                            "synthetic-s2-gru-seed42", "synthetic-s2-mean_pool-seed42"]
    assert {r.group for r in runs} == {"sweep"} and len({r.run_id for r in runs}) == 4
    assert sorted(r.job_type for r in runs) == ["gru", "gru", "mean_pool", "mean_pool"]
    for run in runs:
        job_dir = next(p for p in sweep.glob("*") if run.path.is_relative_to(p))
        metrics = json.loads((job_dir / "metrics.json").read_text())
        assert (job_dir / "csv" / "metrics.csv").is_file()  # loggers combine
        assert (job_dir / "wandb_id").read_text().strip() == run.run_id
        assert run.tags == ["synthetic", "official"] and run.exit_code == 0
        # Config: flat identity keys to group by, and the whole resolved config nested as in config.yaml.
        assert IDENTITY_KEYS <= run.config.keys()
        assert (run.config["model"], run.config["split"], run.config["seed"], run.config["study"]) == (
            metrics["model"], metrics["split"], 42, "sweep")
        assert run.config["params"] == metrics["params"] and run.config["backbone"] == "resnet18"
        assert run.config["cfg"]["trainer"]["max_epochs"] == 2 and run.config["cfg"]["dataset"]["split"] in (1, 2)
        # Summary: best validation epoch, beside everything metrics.json holds.
        assert run.metric_summaries["val/top1"].max and run.metric_summaries["val/loss"].min
        assert run.summary["val/top1"]["max"] == pytest.approx(metrics["best_val_top1"])
        for key in ("top1", "top5", "mean_class_acc", "best_val_top1", "params", "train_seconds", "skipped",
                    "within_pair_reversed", "within_pair_tempo"):
            assert run.summary[key] == pytest.approx(metrics[key]), key
        assert run.summary["within_pair"]["Grow/Shrink"]["acc"] == metrics["within_pair"]["Grow/Shrink"]["acc"]
        for table in ("confusion_matrix_table", "per_class", "predictions", "within_pair_table"):
            assert run.summary[table]["_type"] == "table-file", table
        assert run.summary["predictions"]["nrows"] == metrics["test_videos"]
        assert run.summary["per_class"]["nrows"] == 4
        assert "confusion_matrix" in run.config["_wandb"]["visualize"]
    # The terminal: one line of ours per run, none of W&B's.
    assert not [line for line in output.splitlines() if line.startswith("wandb:")]
    assert "anonymous" not in output and output.count("wandb sync") == 4


@pytest.mark.slow
def test_report_logs_one_summary_run_in_the_study(study: tuple[Path, str], monkeypatch) -> None:
    from ucfbench.report import main

    sweep, _ = study
    for key, value in _offline_env(sweep.parent).items():
        monkeypatch.setenv(key, value)
    assert main([str(sweep), "wandb=true"]) == 0
    (report,) = offline_runs(sweep)
    assert (report.group, report.job_type, report.name, report.exit_code) == ("sweep", "report", "sweep-report", 0)
    for key in ("report", "significance", "plots/comparison", "report_md"):
        assert key in report.summary and "_type" in report.summary[key], key
    assert report.summary["report"]["nrows"] == 2  # one row per model
    assert report.summary["gru/top1_mean"] >= 0 and "mean_pool/top1_mean" in report.summary


@pytest.mark.slow
def test_disabled_writes_nothing(tiny_cfg, tmp_path: Path, offline, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    metrics = train(tiny_cfg("logger=wandb"))
    assert metrics["top1"] >= 0
    assert not (tmp_path / "run" / "wandb").exists() and not (tmp_path / "run" / "wandb_id").exists()


@pytest.mark.slow
def test_a_crashed_job_fails_its_run(tiny_cfg, tmp_path: Path, offline, monkeypatch, caplog) -> None:
    from ucfbench.models.module import ActionClassifier

    def crash(self, batch, batch_idx):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(ActionClassifier, "training_step", crash)
    with caplog.at_level(logging.WARNING, logger="ucfbench"), pytest.raises(RuntimeError, match="injected"):
        train(tiny_cfg("logger=wandb", "logger.wandb.log_model=true"))
    (run,) = offline_runs(tmp_path / "run")
    assert run.exit_code not in (None, 0)
    # log_model offline: refused in one line at start-up, not a crash.
    refused = [r for r in caplog.records if "log_model" in r.getMessage()]
    assert len(refused) == 1 and "offline" in refused[0].getMessage()


@pytest.mark.slow
def test_resume_continues_the_same_run(tiny_cfg, tmp_path: Path, offline) -> None:
    train(tiny_cfg("logger=wandb", "trainer.max_epochs=1"))
    metrics = train(tiny_cfg("logger=wandb", "trainer.max_epochs=2", "resume=true"))
    first, second = offline_runs(tmp_path / "run")
    assert first.run_id == second.run_id == (tmp_path / "run" / "wandb_id").read_text().strip()
    assert second.name == first.name and second.summary["epochs"] == metrics["epochs"] == 2
    assert min(r["trainer/global_step"] for r in second.history if "trainer/global_step" in r) >= 1  # continues
