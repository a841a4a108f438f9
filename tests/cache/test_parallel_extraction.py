"""Several ``python -m ucfbench.extract`` jobs started at once share the work: each video is
extracted once in all, and the cache equals a single job's byte for byte."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ucfbench.cache.extraction import extract_features
from ucfbench.cache.features import FeatureSpec
from ucfbench.data.sampling import UniformSampler


@pytest.mark.slow
def test_three_jobs_extract_each_video_once(tiny_home: Path, tiny_dataset, tmp_path: Path) -> None:
    env = {**os.environ, "UCFBENCH_HOME": str(tiny_home), "OMP_NUM_THREADS": "1", "COLUMNS": "1000"}
    shared = tmp_path / "shared-cache"
    jobs = [
        subprocess.Popen(
            [sys.executable, "-m", "ucfbench.extract", "debug=tiny", f"features.dir={shared}", "features.batch_size=2",
             "+features.claim_size=4", "features.accelerator=cpu", f"hydra.run.dir={tmp_path / f'run{i}'}"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for i in range(3)
    ]
    outputs = [job.communicate(timeout=1200)[0] for job in jobs]
    counts = []
    for job, out in zip(jobs, outputs):
        assert job.returncode == 0, out[-3000:]
        counts.append(int(re.search(r"(\d+) extracted by this job", out).group(1)))
    assert sum(counts) == len(tiny_dataset.records())  # each video once, in all

    spec = FeatureSpec(arch="resnet18", weights=None, init_seed=0, size=32, sampler=UniformSampler(num_frames=8),
                       backend="auto")
    single = extract_features(tiny_dataset, spec, root=tmp_path / "single", batch_size=2, num_workers=0,
                              accelerator="cpu", claim_size=4)
    (entry,) = [p for p in shared.iterdir() if not p.name.startswith(".")]
    assert entry.name == single.dir.name
    for name in ("features", "lengths", "checksum", "state"):
        assert (entry / f"{name}.npy").read_bytes() == (single.dir / f"{name}.npy").read_bytes(), name
    assert (entry / "COMPLETE").is_file() and (entry / "claims.json").read_text() == "[]\n"
    assert not np.load(entry / "features.npy", mmap_mode="r").flags.writeable
