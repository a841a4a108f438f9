"""SLURM without a cluster: the launcher configs compose, a request no node can give is refused
before submitting, a study folder's unfinished and never-started jobs are found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.conftest import make_cfg
from ucfbench.eval.sweep import describe_unfinished, sweep_jobs
from ucfbench.utils.errors import UsageError
from ucfbench.utils.slurm import (
    SLURM_LAUNCHER,
    CheckSlurmRequest,
    NodeGroup,
    _gpus,
    _minutes,
    check_request,
    request_problems,
)

SMALL = [NodeGroup(cpus=2, mem_mb=20000, gpus=0, minutes=120)]


@pytest.mark.parametrize("limit, minutes", [("infinite", float("inf")), ("30", 30), ("2:00:00", 120),
                                            ("1-00:00:00", 1440), ("10:30", 10.5)])
def test_time_limits(limit: str, minutes: float) -> None:
    assert _minutes(limit) == minutes


@pytest.mark.parametrize("gres, gpus", [("(null)", 0), ("gpu:4", 4), ("gpu:a100:2(S:0-1)", 2), ("gpu:1,gpu:v100:2", 3)])
def test_gres(gres: str, gpus: int) -> None:
    assert _gpus(gres) == gpus


@pytest.mark.parametrize("launcher", ["slurm_cpu", "slurm_one_gpu"])
def test_launcher_configs_compose_with_the_keys_users_set(launcher: str, tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, [f"hydra/launcher={launcher}", "hydra.launcher.partition=p", "hydra.launcher.account=a",
                              "hydra.launcher.timeout_min=30"])
    node = cfg.hydra.launcher
    assert node._target_ == SLURM_LAUNCHER
    assert (node.partition, node.account, node.timeout_min) == ("p", "a", 30)
    assert node.max_num_timeout > 0  # a job at its time limit is requeued, not given up


def test_request_the_node_cannot_give_is_named() -> None:
    cpu = make_launcher(cpus_per_task=1, mem_gb=2, timeout_min=10)
    assert request_problems(cpu, SMALL) == []
    gpu = make_launcher(cpus_per_task=8, mem_gb=64, gpus_per_node=1, timeout_min=600)
    problems = " | ".join(request_problems(gpu, SMALL))
    for words in ("cpus_per_task (x tasks_per_node) asks 8 CPUs", "at most 2 CPUs", "mem_gb asks 65536 MB",
                  "gpus_per_node / gres asks 1 GPUs", "timeout_min asks 600 minutes"):
        assert words in problems, problems
    # enough of everything, but not on one node
    split = [NodeGroup(cpus=8, mem_mb=1000, gpus=0, minutes=60), NodeGroup(cpus=1, mem_mb=90000, gpus=0, minutes=60)]
    assert "no single node" in request_problems(make_launcher(cpus_per_task=4, mem_gb=8), split)[0]
    assert "sinfo lists no nodes" in request_problems(cpu, [])[0]


def test_check_stops_a_multirun_before_submitting(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr("ucfbench.utils.slurm.partition_nodes", lambda partition: SMALL)
    config = OmegaConf.create({"hydra": {"launcher": make_launcher(cpus_per_task=8, partition="debug")}})
    with pytest.raises(UsageError, match=r"pending forever on partition debug.*cpus_per_task"):
        check_request(config)
    with pytest.raises(SystemExit) as stop:  # not an exception: Hydra would turn it into a warning
        CheckSlurmRequest().on_multirun_start(config)
    assert stop.value.code == 2
    assert "error: SLURM would leave" in capsys.readouterr().err
    CheckSlurmRequest().on_multirun_start(OmegaConf.create({"hydra": {"launcher": {"_target_": "joblib"}}}))


def make_launcher(**keys) -> dict:
    return OmegaConf.create({"_target_": SLURM_LAUNCHER, "tasks_per_node": 1, **keys})


def test_sweep_jobs_finished_unfinished_not_started(tmp_path: Path) -> None:
    """A 2 x 2 study: job 0 finished, job 1 interrupted (a folder, no metrics.json), 2 and 3 never started."""
    basic = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
    OmegaConf.save({"hydra": {"sweeper": {"_target_": basic, "params": {"seed": "1,2"}},
                              "overrides": {"task": ["model=gru,lstm", "debug=tiny"]}}}, tmp_path / "multirun.yaml")
    (tmp_path / "0").mkdir()
    metrics = dict.fromkeys(("dataset", "split", "model", "seed", "top1", "top5", "mean_class_acc", "params"), 1)
    (tmp_path / "0" / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "1").mkdir()
    jobs = sweep_jobs(tmp_path)
    assert [(j.num, j.state) for j in jobs] == [(0, "finished"), (1, "unfinished"), (2, "not started"),
                                               (3, "not started")]
    assert jobs[1].overrides == ("seed=1", "model=lstm", "debug=tiny")  # Hydra's order: params, then the command
    assert describe_unfinished(tmp_path)[0] == "job 1 unfinished: seed=1 model=lstm debug=tiny"
    # The report hands over the runs it read: their folders are the finished jobs, no metrics.json is read again.
    assert [j.state for j in sweep_jobs(tmp_path, finished={tmp_path / "1"})][:2] == ["unfinished", "finished"]
    assert sweep_jobs(tmp_path / "0") is None  # a single run: no multirun.yaml


def test_joblib_jobs_get_their_own_gpu(tmp_path: Path) -> None:
    """Job numbers 0..3 on 2 GPUs: 0 -> GPU 0, 1 -> GPU 1 (each locked while it runs); a third job
    at once shares the GPU its number points at; a finished job's GPU is free for the next."""
    from ucfbench.utils.devices import claim_gpu

    first, lock0 = claim_gpu(tmp_path, job_num=0, count=2)
    second, lock1 = claim_gpu(tmp_path, job_num=2, count=2)  # its GPU (0) is taken: the next free one
    third, lock2 = claim_gpu(tmp_path, job_num=3, count=2)
    assert (first, second, third) == (0, 1, 1) and lock2 is None
    lock0.release()
    assert claim_gpu(tmp_path, job_num=1, count=2)[0] == 0
    lock1.release()


def test_joblib_job_gpu_only_for_joblib_on_several_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from ucfbench.utils.devices import joblib_job_gpu

    joblib = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    args = {"job_num": 3, "accelerator": "gpu", "devices": 1, "lock_dir": tmp_path}
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with joblib_job_gpu(launcher=joblib, **args) as gpu:
        assert gpu == 1
        with joblib_job_gpu(launcher=joblib, **{**args, "job_num": 5}) as other:
            assert other == 0  # GPU 1 is held: the next free one
    with joblib_job_gpu(launcher=joblib, **args) as gpu:
        assert gpu == 1  # released when the job ended
    for launcher, changed in [(SLURM_LAUNCHER, {}), (joblib, {"accelerator": "cpu"}), (joblib, {"devices": 2})]:
        with joblib_job_gpu(launcher=launcher, **{**args, **changed}) as gpu:
            assert gpu is None
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with joblib_job_gpu(launcher=joblib, **args) as gpu:
        assert gpu is None
