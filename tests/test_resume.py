"""Interrupted and resumed runs equal uninterrupted ones; run directories never collide; a
non-finite loss stops training."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from tests import helpers
from ucfbench.callbacks.resume import TrainTime
from ucfbench.run import train
from ucfbench.utils.errors import UsageError
from ucfbench.utils.resolvers import unique_dir

# Several batches per epoch and dropout, so the data order and the random state both matter.
SHORT = ("trainer.max_epochs=4", "data.batch_size=4", "model.net.hidden_dim=32", "model.net.dropout=0.5")
# The default hydra.run.dir with its time left open.
RUN_DIR = "${unique_dir:${paths.log_dir}/${hydra.runtime.choices.dataset}/${hydra.runtime.choices.model}/TIME}"


def _history(run_dir: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run_dir / "history.csv").open()))


def assert_same_run(resumed: Path, reference: Path) -> None:
    """Same test predictions, same per-epoch history, same metrics (training time aside)."""
    np.testing.assert_array_equal(np.load(resumed / "test_probs.npy"), np.load(reference / "test_probs.npy"))
    for name in ("predictions.csv", "history.csv"):
        assert (resumed / name).read_text() == (reference / name).read_text(), name
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (resumed, reference))
    for key in ("top1", "top5", "mean_class_acc", "best_val_top1", "epochs"):
        assert a[key] == b[key], key
    assert Path(a["checkpoint"]).name == Path(b["checkpoint"]).name  # the same best epoch


def run_cli(home: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "UCFBENCH_HOME": str(home), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "ucfbench.run", "debug=tiny", *overrides],
                          env=env, capture_output=True, text=True, timeout=900)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """TrainTime reads a clock that moves only when tests.helpers.AdvanceClock moves it."""
    monkeypatch.setattr(TrainTime, "clock", staticmethod(lambda: helpers.CLOCK[0]))
    helpers.CLOCK[0] = 0.0
    return helpers.CLOCK


@pytest.mark.slow
def test_resume_equals_uninterrupted_run(tiny_cfg, tmp_path: Path, fake_clock) -> None:
    """1 epoch, then resume=true to 4: the same predictions, history and train_seconds as 4 epochs
    in one go; top-5 is logged as top-5 after the resume (4 classes: always 1)."""
    tick = ("+callbacks.tick._target_=tests.helpers.AdvanceClock", "+callbacks.tick.seconds=10")
    reference = train(tiny_cfg(*SHORT, *tick, run_dir=tmp_path / "reference"))
    train(tiny_cfg(*SHORT, *tick, "trainer.max_epochs=1"))
    resumed = train(tiny_cfg(*SHORT, *tick, "resume=true"))
    assert_same_run(tmp_path / "run", tmp_path / "reference")
    assert reference["train_seconds"] == resumed["train_seconds"] == 40.0  # 10 + 30: both parts
    for row in _history(tmp_path / "run"):
        assert float(row["train/top5"]) == 1.0 >= float(row["train/top1"]), row


@pytest.mark.slow
def test_resume_with_fewer_epochs_than_trained_says_which_key(tiny_cfg, tmp_path: Path) -> None:
    """A run trained 3 epochs, resumed with trainer.max_epochs=2: a user error naming the key, not
    Lightning's traceback; the run's files stay as they were."""
    train(tiny_cfg("trainer.max_epochs=3", "model.net.hidden_dim=16"))
    before = {f: (tmp_path / "run" / f).read_bytes() for f in ("metrics.json", "config.yaml")}
    with pytest.raises(UsageError, match=r"has trained 3 epochs, more than trainer\.max_epochs=2: resume with "
                                         r"trainer\.max_epochs=3 or more"):
        train(tiny_cfg("trainer.max_epochs=2", "model.net.hidden_dim=16", "resume=true"))
    assert {f: (tmp_path / "run" / f).read_bytes() for f in before} == before


@pytest.mark.slow
@pytest.mark.parametrize("signal, device_resident", [("SIGINT", "true"), ("SIGKILL", "false")])
def test_interrupted_run_resumes_exactly(signal: str, device_resident: str, tiny_cfg, tiny_home: Path,
                                         tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) or ``kill -9`` during epoch 2 of 4, then ``resume=true``: predictions and
    history equal the uninterrupted run's. Both loaders: in memory (order seeded by seed + epoch)
    and the DataLoader (order drawn from torch's generator)."""
    overrides = (*SHORT, f"data.device_resident={device_resident}")
    train(tiny_cfg(*overrides, run_dir=tmp_path / "reference"))  # also caches the features
    run_dir = tmp_path / "run"
    stop = ("+callbacks.stop._target_=tests.helpers.SignalAt", "+callbacks.stop.epoch=2",
            "+callbacks.stop.batch=1", f"+callbacks.stop.signal={signal}")
    proc = run_cli(tiny_home, *overrides, *stop, f"hydra.run.dir={run_dir}", check=False)
    assert proc.returncode == (1 if signal == "SIGINT" else -9), proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not (run_dir / "metrics.json").exists()
    assert [r["epoch"] for r in _history(run_dir)] == ["0.0", "1.0"]
    if signal == "SIGINT":
        assert (run_dir / "checkpoints" / "on_exception.ckpt").is_file()
    else:  # as if killed after writing epoch 2's history row but before its checkpoint
        with (run_dir / "history.csv").open("a") as f:
            f.write(",".join(["2.0"] + ["0.5"] * (len(_history(run_dir)[0]) - 1)) + "\n")
    metrics = train(tiny_cfg(*overrides, "resume=true", run_dir=run_dir))
    assert metrics["epochs"] == 4
    assert_same_run(run_dir, tmp_path / "reference")
    assert (metrics["restarts"], metrics["resumed_from_epoch"]) == (1, 2)


@pytest.mark.slow
def test_sigterm_saves_exits_non_zero_and_a_restarted_job_resumes(tiny_cfg, tiny_home: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM (preemption, time limit, scancel) during epoch 2 of 4: the run stops after the batch,
    saves, exits 143, writes no results. Started again as SLURM starts a requeued job (same command,
    same folder, $SLURM_RESTART_COUNT set, no resume=true), it continues from epoch 2 and ends as the
    uninterrupted run; the same command once more keeps the results and trains nothing."""
    reference = train(tiny_cfg(*SHORT, run_dir=tmp_path / "reference"))
    assert (reference["restarts"], reference["resumed_from_epoch"]) == (0, None)
    run_dir = tmp_path / "run"
    stop = ("+callbacks.stop._target_=tests.helpers.SignalAt", "+callbacks.stop.epoch=2",
            "+callbacks.stop.batch=1", "+callbacks.stop.signal=SIGTERM")
    proc = run_cli(tiny_home, *SHORT, *stop, f"hydra.run.dir={run_dir}", check=False)
    assert proc.returncode == 143, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Stopped by SIGTERM" in proc.stdout + proc.stderr and "resume=true" in proc.stdout + proc.stderr
    assert not (run_dir / "metrics.json").exists()
    assert (run_dir / "checkpoints" / "on_exception.ckpt").is_file()
    assert [r["epoch"] for r in _history(run_dir)] == ["0.0", "1.0"]
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    metrics = train(tiny_cfg(*SHORT, run_dir=run_dir))
    assert_same_run(run_dir, tmp_path / "reference")
    assert (metrics["restarts"], metrics["resumed_from_epoch"]) == (1, 2)
    stamp = (run_dir / "metrics.json").stat().st_mtime_ns
    assert train(tiny_cfg(*SHORT, run_dir=run_dir)) == metrics
    assert (run_dir / "metrics.json").stat().st_mtime_ns == stamp


def test_non_finite_loss_stops_training(tiny_cfg, tmp_path: Path) -> None:
    """A NaN in one input at epoch 1: training stops there, naming the epoch and what to do;
    epoch 0's history and checkpoint stay as they were."""
    nan = ("+callbacks.nan._target_=tests.helpers.NaNAt", "+callbacks.nan.epoch=1")
    with pytest.raises(FloatingPointError, match=r"non-finite training loss at epoch 1.*model\.optimizer\.lr"):
        train(tiny_cfg("trainer.max_epochs=3", "model.net.hidden_dim=16", *nan))
    assert [r["epoch"] for r in _history(tmp_path / "run")] == ["0.0"]
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["epoch"] == 0 and all(torch.isfinite(w).all() for w in last["state_dict"].values())


# --- run directories ---------------------------------------------------------------------------

def _claim(path: str) -> str:
    return unique_dir(path)


def test_unique_dir_claims_one_directory_per_process(tmp_path: Path) -> None:
    import multiprocessing

    base = str(tmp_path / "runs" / "synthetic" / "gru" / "2026-01-01_00-00-00")
    with multiprocessing.get_context("fork").Pool(6, maxtasksperchild=1) as pool:  # a process each
        claimed = pool.map(_claim, [base] * 6, chunksize=1)
    assert sorted(claimed) == sorted([base] + [f"{base}_{i}" for i in range(1, 6)])
    assert all(Path(p).is_dir() for p in claimed)


def test_unique_dir_is_resolved_once_per_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = str(tmp_path / "2026-01-01_00-00-00")
    Path(base).mkdir()  # another job has it
    assert unique_dir(base) == unique_dir(base) == f"{base}_1"  # Hydra resolving hydra.run.dir twice
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-01-01_00-00-00", "2026-01-01_00-00-00_1"]
    monkeypatch.setenv("LOCAL_RANK", "1")  # a DDP rank started by torchrun/srun claims nothing
    assert unique_dir(str(tmp_path / "other")) == str(tmp_path / "other") and not (tmp_path / "other").exists()


def test_default_run_and_sweep_dirs_are_claimed() -> None:
    hydra = OmegaConf.load(Path(__file__).parents[1] / "conf" / "hydra" / "default.yaml")
    assert hydra.run._get_node("dir")._value() == RUN_DIR.replace("TIME", "${now:%Y-%m-%d_%H-%M-%S}")
    assert hydra.sweep._get_node("dir")._value() == "${unique_dir:${paths.log_dir}/multirun/${now:%Y-%m-%d_%H-%M-%S}}"


@pytest.mark.slow
def test_two_runs_started_in_the_same_second(tiny_home: Path, tiny_cfg, tmp_path: Path) -> None:
    """The default run directory with its time fixed (as two jobs started in one second compute it):
    two directories, each with its own config, log and results."""
    train(tiny_cfg("trainer.max_epochs=1", run_dir=tmp_path / "warm"))  # the features are cached first
    env = {**os.environ, "UCFBENCH_HOME": str(tiny_home), "OMP_NUM_THREADS": "1"}
    run_dir = RUN_DIR.replace("TIME", "2026-01-01_00-00-00")
    procs = [subprocess.Popen([sys.executable, "-m", "ucfbench.run", "debug=tiny", "trainer.max_epochs=1",
                               f"seed={seed}", f"hydra.run.dir='{run_dir}'"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for seed in (1, 2)]
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    base = tiny_home / "runs" / "synthetic" / "gru" / "2026-01-01_00-00-00"
    dirs = [base, base.with_name(base.name + "_1")]
    assert sorted(p for p in base.parent.iterdir()) == dirs
    seeds = set()
    for d in dirs:
        metrics = json.loads((d / "metrics.json").read_text())
        assert OmegaConf.load(d / "config.yaml").seed == metrics["seed"]
        seeds.add(metrics["seed"])
        log = (d / "run.log").read_text()
        assert log.count("Results") <= 1 and (d / "checkpoints" / "last.ckpt").is_file()
        assert f"seed={metrics['seed']}" in (d / ".hydra" / "overrides.yaml").read_text()
    assert seeds == {1, 2}


@pytest.mark.slow
def test_two_multiruns_started_in_the_same_second(tmp_path: Path) -> None:
    """Two multiruns whose sweep folder has the same name: each gets its own, and every job of
    one multirun (joblib launcher: separate processes) writes into its multirun's folder."""
    app = Path(__file__).with_name("hydra_app.py")
    env = {**os.environ, "UCFBENCH_HOME": str(tmp_path), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).parents[1])}
    sweep_dir = "${unique_dir:${paths.log_dir}/multirun/2026-01-01_00-00-00}"
    procs = [subprocess.Popen([sys.executable, str(app), "-m", "seed=1,2", "hydra/launcher=joblib",
                               "hydra.launcher.n_jobs=2", f"hydra.sweep.dir='{sweep_dir}'"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    folders = []
    for out in outputs:
        jobs = sorted(line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("OUTPUT_DIR "))
        assert len(jobs) == 2 and [Path(j).name for j in jobs] == ["0", "1"], out[-3000:]
        assert Path(jobs[0]).parent == Path(jobs[1]).parent  # one folder per multirun
        folders.append(Path(jobs[0]).parent.name)
    assert sorted(folders) == ["2026-01-01_00-00-00", "2026-01-01_00-00-00_1"]
    assert sorted(p.name for p in (tmp_path / "runs" / "multirun").iterdir()) == sorted(folders)
    assert not (tmp_path / "runs" / "synthetic").exists()  # no run folder claimed by a multirun
