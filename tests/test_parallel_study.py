"""A study as users launch it: four jobs at once on an empty home, through Hydra's joblib launcher."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "UCFBENCH_HOME": str(home), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=1500)


@pytest.mark.slow
def test_four_parallel_jobs_share_generation_and_extraction(tmp_path: Path) -> None:
    home, sweep = tmp_path / "home", tmp_path / "sweep"
    proc = _cli(home, "-m", "ucfbench.run", "-m", "debug=tiny", "trainer.max_epochs=1", "model=gru,mean_pool",
                "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    jobs = sorted(p.parent for p in sweep.glob("*/metrics.json"))
    assert [p.name for p in jobs] == ["0", "1", "2", "3"]  # every job finished, each in its own directory
    metrics = [json.loads((j / "metrics.json").read_text()) for j in jobs]
    assert {(m["model"], m["seed"]) for m in metrics} == {("gru", 0), ("gru", 1), ("mean_pool", 0), ("mean_pool", 1)}

    logs = "".join((j / "run.log").read_text() for j in jobs)
    assert logs.count("synthetic videos at") == 1  # generated once, by whichever job got there first
    (cache_dir,) = {m["features"]["cache"] for m in metrics}
    videos = len((Path(cache_dir) / "videos.txt").read_text().splitlines())
    assert sum(m["features"]["extracted"] for m in metrics) == videos  # each video extracted once in all

    # The cache the four jobs filled together equals one made by a single process.
    alone = _cli(tmp_path / "alone", "-m", "ucfbench.extract", "debug=tiny", f"hydra.run.dir={tmp_path / 'x'}")
    assert alone.returncode == 0, alone.stdout[-3000:] + alone.stderr[-3000:]
    (reference,) = (tmp_path / "alone" / "cache" / "features").iterdir()
    for name in ("features.npy", "lengths.npy", "state.npy"):
        np.testing.assert_array_equal(np.load(Path(cache_dir) / name), np.load(reference / name), err_msg=name)
