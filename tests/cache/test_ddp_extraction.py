"""Extraction sharded over two CPU processes (Lightning DDP) gives the single-process cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ucfbench.cache.extraction import extract_features
from ucfbench.cache.features import FeatureSpec
from ucfbench.data.sampling import UniformSampler


@pytest.mark.slow
def test_ddp_extraction_matches_one_process(tiny_home: Path, tiny_dataset, tmp_path: Path) -> None:
    env = {**os.environ, "UCFBENCH_HOME": str(tiny_home), "COLUMNS": "1000"}
    ddp_dir = tmp_path / "ddp-cache"
    proc = subprocess.run(
        [sys.executable, "-m", "ucfbench.extract", "debug=tiny", f"features.dir={ddp_dir}", "features.devices=2",
         "features.strategy=ddp", "features.accelerator=cpu", f"hydra.run.dir={tmp_path / 'run'}"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"{len(tiny_dataset.records())} extracted by this job" in proc.stdout  # both ranks' rows, summed

    spec = FeatureSpec(arch="resnet18", weights=None, init_seed=0, size=32, sampler=UniformSampler(num_frames=8),
                       backend="auto")
    single = extract_features(tiny_dataset, spec, root=tmp_path / "single-cache", num_workers=0, accelerator="cpu")
    (ddp_entry,) = [p for p in ddp_dir.iterdir() if not p.name.startswith(".")]
    assert ddp_entry.name == single.dir.name  # same key: same dataset and setting
    assert (ddp_entry / "COMPLETE").is_file()
    ddp = np.load(ddp_entry / "features.npy")
    ref, _ = single.load()
    np.testing.assert_allclose(ddp.astype(np.float32), ref.astype(np.float32), atol=1e-3)
