"""Studies on a real SLURM (one node, started by ``scripts/slurm-up``): a multirun through Hydra's
submitit launcher, a job requeued mid-training that continues exactly, a cancelled study resumed.

Every job asks for 1 CPU, 2 GB and 10 minutes of the ``debug`` partition, and every wait has a
timeout, so a request the node cannot give fails instead of hanging.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_resume import SHORT, assert_same_run

REPO = Path(__file__).resolve().parents[1]
# What the node gives every job: Hydra's own submitit config, and the project's CPU one.
REQUEST = ("hydra.launcher.partition=debug", "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1",
           "hydra.launcher.mem_gb=2")
SUBMITIT = ("hydra/launcher=submitit_slurm", *REQUEST)
SLURM_CPU = ("hydra/launcher=slurm_cpu", *REQUEST)


def slurm_missing() -> str | None:
    """Why the SLURM tests cannot run here, or None."""
    if shutil.which("sbatch") is None:
        return "SLURM is not installed: run 'sudo scripts/slurm-up' (scripts/test does as root)"
    try:
        state = subprocess.run(["sinfo", "-h", "-p", "debug", "-o", "%T"], capture_output=True, text=True,
                               timeout=20).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        state = []
    if not {"idle", "mixed", "allocated"} & set(state):
        return "no SLURM controller with an up 'debug' partition: run 'sudo scripts/slurm-up'"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(slurm_missing() is not None, reason=str(slurm_missing()))]


def start_multirun(home: Path, sweep: Path, *overrides: str) -> subprocess.Popen:
    """``python -m ucfbench.run -m debug=tiny ... `` through SLURM, in the background."""
    env = {**os.environ, "UCFBENCH_HOME": str(home), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO),
           "WANDB_MODE": "offline"}
    return subprocess.Popen([sys.executable, "-m", "ucfbench.run", "-m", "debug=tiny", *SHORT,
                             f"hydra.sweep.dir={sweep}", *overrides],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    try:
        out = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        out = proc.communicate()[0]
        pytest.fail(f"the multirun did not end within {timeout} s:\n{out[-3000:]}")
    return proc.returncode, out


def wait_for(what: str, check, timeout: float, proc: subprocess.Popen | None = None):
    """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := check()):
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the multirun ended while waiting for {what}:\n{proc.communicate()[0][-3000:]}")
        time.sleep(1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def scontrol(*args: str) -> None:
    subprocess.run(["scontrol", *args], check=True, capture_output=True, timeout=30)


def job_state(job_id: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True,
                          timeout=30).stdout.strip()


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def job_errors(sweep: Path) -> str:
    return "".join(p.read_text() for p in sorted((sweep / ".submitit").rglob("*_log.err")))


def test_requeued_job_continues_exactly(tmp_path: Path) -> None:
    """Two jobs of one array, the same training: job 0 waits during epoch 2 and is requeued (as
    preemption does), released at once instead of after SLURM's hold, and continues in its folder
    from the last checkpoint, with the same W&B run; job 1 runs uninterrupted. Same predictions and
    history; job 0's metrics.json says it resumed at epoch 2."""
    sweep, marker = tmp_path / "sweep", tmp_path / "waiting"
    proc = start_multirun(tmp_path, sweep, *SUBMITIT, "logger=wandb", "+callbacks.wait._target_=tests.helpers.WaitAt",
                          "+callbacks.wait.epoch=2,99", f"+callbacks.wait.marker={marker}")
    job_id = wait_for("job 0 to reach epoch 2", lambda: marker.is_file() and marker.read_text(), 600, proc)
    wandb_id = (sweep / "0" / "wandb_id").read_text()
    scontrol("requeue", job_id)
    wait_for("the requeued job to pend", lambda: job_state(job_id) == "PENDING", 120, proc)
    scontrol("update", f"jobid={job_id}", "StartTime=now")  # SLURM holds a requeued job ~2 minutes
    code, out = finish(proc)
    assert code == 0, out[-3000:]
    assert_same_run(sweep / "0", sweep / "1")
    assert (metrics(sweep / "0")["restarts"], metrics(sweep / "0")["resumed_from_epoch"]) == (1, 2)
    assert (metrics(sweep / "1")["restarts"], metrics(sweep / "1")["resumed_from_epoch"]) == (0, None)
    assert (sweep / "0" / "wandb_id").read_text() == wandb_id
    offline = sorted(p.name for p in (sweep / "0" / "wandb").glob("offline-run-*"))
    assert len(offline) == 2 and all(name.endswith(wandb_id.strip()) for name in offline), offline
    errors = job_errors(sweep)
    assert "Logging error" not in errors and "srun` command" not in errors, errors[-3000:]


def test_cancelled_study_resumes(tmp_path: Path) -> None:
    """Three identical jobs run one at a time; the study is cancelled (scancel, then Ctrl-C on the
    launching command) during job 1's epoch 2, so job 0 has finished and job 2 never started. The
    same command with resume=true keeps job 0 as it is, continues job 1 from its checkpoint, runs
    job 2: all three end the same."""
    sweep, marker = tmp_path / "sweep", tmp_path / "waiting"
    study = (*SLURM_CPU, "+callbacks.wait._target_=tests.helpers.WaitAt", "+callbacks.wait.epoch=99,2,98",
             f"+callbacks.wait.marker={marker}", "hydra.launcher.array_parallelism=1")
    proc = start_multirun(tmp_path, sweep, *study)
    job_id = wait_for("job 1 to reach epoch 2", lambda: marker.is_file() and marker.read_text(), 600, proc)
    array_id = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%F"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    subprocess.run(["scancel", array_id], check=True, timeout=30)
    wait_for("the array to leave the queue", lambda: not job_state(array_id), 120)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: without sacct, submitit cannot tell a cancelled job ended
    code, out = finish(proc, timeout=120)
    assert code != 0, out[-3000:]
    assert (sweep / "0" / "metrics.json").is_file() and not (sweep / "1" / "metrics.json").exists()
    assert (sweep / "1" / "checkpoints" / "last.ckpt").is_file() and not (sweep / "2").exists()
    report = subprocess.run([sys.executable, "-m", "ucfbench.report", str(sweep), "plots=false"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    assert "job 1 unfinished" in report.stderr and "job 2 not started" in report.stderr, report.stderr[-3000:]
    stamp = (sweep / "0" / "metrics.json").stat().st_mtime_ns

    code, out = finish(start_multirun(tmp_path, sweep, *study, "resume=true"))
    assert code == 0, out[-3000:]
    assert (sweep / "0" / "metrics.json").stat().st_mtime_ns == stamp  # kept, not trained again
    assert "already holds this run's results" in (sweep / "0" / "run.log").read_text()
    for job in ("1", "2"):
        assert_same_run(sweep / job, sweep / "0")
    assert [metrics(sweep / j)["restarts"] for j in "012"] == [0, 1, 0]
    assert metrics(sweep / "1")["resumed_from_epoch"] == 2


def test_a_request_the_node_cannot_give_stops_before_submitting(tmp_path: Path) -> None:
    """The one-GPU config on this GPU-less node: exit 2 naming the key, nothing submitted."""
    env = {**os.environ, "UCFBENCH_HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "ucfbench.run", "-m", "debug=tiny", "hydra/launcher=slurm_one_gpu",
                           "hydra.launcher.partition=debug", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "pending forever" in proc.stderr and "gpus_per_node" in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and not (tmp_path / "sweep" / ".submitit").exists()
