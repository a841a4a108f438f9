"""benchmarks/gpu.sh: the one-GPU figures script keeps working (its CPU smoke mode, at toy size)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([*args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_smoke_prints_every_table(tmp_path):
    out = tmp_path / "gpu.md"
    result = _run(str(REPO / "benchmarks/gpu.sh"), "--smoke", "--out", str(out), timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    assert text.strip() in result.stdout
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    extraction = [r for r in rows if r.startswith(("| ResNet-50 |", "| DINOv2 ViT-B/14 |"))]
    # Both backbones through the suite's reader (PyAV), with numbers; the GPU decoder says why not.
    for backbone in ("ResNet-50", "DINOv2 ViT-B/14"):
        (pyav,) = [r for r in extraction if r.startswith(f"| {backbone} | pyav |")]
        assert float(pyav.split("|")[3].replace(",", "")) > 0
        (cuda,) = [r for r in extraction if r.startswith(f"| {backbone} | torchcodec (CUDA) |")]
        assert "needs CUDA" in cuda or "not installed" in cuda
    study = {r.split("|")[1].strip(): r for r in rows if r.startswith(("| 32-true |", "| bf16-mixed |"))}
    assert len(study) == 2  # the study in both CPU precisions (and the CNN-RNN's 32-true row)
    assert float(study["bf16-mixed"].split("|")[2]) > 0
    assert "s per split-1 epoch" in text and "Total:" in text


def test_full_run_needs_a_gpu():
    result = _run(sys.executable, str(REPO / "benchmarks/gpu.py"), timeout=300)
    assert result.returncode != 0
    assert "needs a CUDA GPU; run benchmarks/gpu.sh --smoke" in result.stderr


@pytest.mark.slow
def test_ucf101_scale_runs_the_feature_path(tmp_path):
    """benchmarks/ucf101_scale.py at a small width: every step measured, the train split loaded whole."""
    import json

    plot = tmp_path / "scale.png"
    result = _run(sys.executable, str(REPO / "benchmarks/ucf101_scale.py"), "--sizes", "1000", "--dim", "8",
                  "--head-sizes", "1000", "--head-batches", "1", "--plot", str(plot), timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["videos"] == 1000 and 0 < row["train_videos"] < 1000
    for step in ("index", "fingerprint", "create", "write", "verify", "load", "loader_epoch", "bare_epoch"):
        assert row[f"{step}_cpu"] >= 0 and row[step] > 0
    assert set(row["head_epoch_s"]) >= {"gru", "mean_pool", "transformer"}
    assert plot.stat().st_size > 0
