"""``ucfbench.report``: aggregation, leaky rows, McNemar tests, ensembles and plots on fake sweeps."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ucfbench.data.types import VideoRecord
from ucfbench.eval.run_dir import write_test_results
from ucfbench.eval.study import (
    LEAKY_NOTE,
    Run,
    aggregate,
    ensemble,
    holm,
    load_runs,
    mcnemar_exact,
    protocol_family,
)
from ucfbench.report import main, write_report

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["A", "B", "C"]
LABELS = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
VIDEOS = [f"{CLASSES[y]}/v_{CLASSES[y]}_g{i:02d}_c01.avi" for i, y in enumerate(LABELS)]
PAIRS = [{"classes": ["A", "B"], "kind": "reversed"}]


def probs_for(correct: list[bool], labels: list[int] = LABELS, margin: float = 0.8) -> np.ndarray:
    """(N, C) probabilities with the argmax at the label where ``correct``, at the next class otherwise."""
    p = np.full((len(labels), len(CLASSES)), (1 - margin) / (len(CLASSES) - 1))
    for i, (y, ok) in enumerate(zip(labels, correct)):
        p[i, y if ok else (y + 1) % len(CLASSES)] = margin
    return p


def write_run(run_dir: Path, *, model: str, seed: int, probs: np.ndarray, labels: list[int] = LABELS,
              videos: list[str] = VIDEOS, split: str = "split1", leaky: bool = False, params: int = 1_000_000,
              train_seconds: float = 10.0, order: list[int] | None = None) -> None:
    """A run directory as ``ucfbench.run`` writes it (the real writer), videos in ``order``."""
    order = order or list(range(len(labels)))
    info = {"dataset": "synthetic", "split": split, "leaky": leaky, "model": model, "seed": seed, "params": params,
            "train_seconds": train_seconds, "epochs": 2, "best_val_top1": 0.5, "checkpoint": "", "features": {},
            "num_classes": len(CLASSES), "skipped": 0}
    write_test_results(run_dir, probs=torch.tensor(probs[order], dtype=torch.float32),
                  labels=torch.tensor([labels[i] for i in order]),
                  records=[VideoRecord(relpath=videos[i], label=labels[i]) for i in order],
                  classes=CLASSES, pairs=PAIRS, info=info)
    history = "epoch,train/loss,train/top1,val/loss,val/top1,lr\n0.0,1.2,0.4,1.3,0.3,0.001\n1.0,0.9,0.6,1.1,,0.001\n"
    (run_dir / "history.csv").write_text(history)


def first(n: int) -> list[bool]:
    return [i < n for i in range(len(LABELS))]


def among(idx: set[int]) -> list[bool]:
    return [i in idx for i in range(len(LABELS))]


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """gru, lstm, mean_pool x seeds 0, 1 on split1, plus one leaky gru run.

    gru vs lstm discordant pairs: seed 0 a_only 6, b_only 1; seed 1 a_only 4, b_only 1 (pooled 10 / 2).
    """
    root = tmp_path / "sweep"
    write_run(root / "0", model="gru", seed=0, probs=probs_for(first(8)), train_seconds=10.0)
    write_run(root / "1", model="gru", seed=1, probs=probs_for(first(6)), train_seconds=12.0)
    write_run(root / "2", model="lstm", seed=0, probs=probs_for(among({0, 1, 8})), params=2_000_000)
    write_run(root / "3", model="lstm", seed=1, probs=probs_for(among({0, 1, 9})), params=2_000_000,
              order=[9, 3, 0, 5, 1, 7, 2, 8, 4, 6])  # shuffled: pairing goes by video path
    write_run(root / "4", model="mean_pool", seed=0, probs=probs_for(first(5)), params=200_000)
    write_run(root / "5", model="mean_pool", seed=1, probs=probs_for(first(5)), params=200_000)
    write_run(root / "nested" / "6", model="gru", seed=0, probs=probs_for(first(10)), split="random", leaky=True)
    return root


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open()))


def test_mcnemar_exact_hand_cases() -> None:
    assert mcnemar_exact(10, 2) == pytest.approx(2 * (1 + 12 + 66) / 2**12)  # 0.0386
    assert mcnemar_exact(10, 2) == pytest.approx(0.0386, abs=1e-4)
    assert mcnemar_exact(2, 10) == mcnemar_exact(10, 2)
    assert mcnemar_exact(5, 5) == mcnemar_exact(0, 0) == mcnemar_exact(1, 0) == 1.0
    assert mcnemar_exact(3, 0) == pytest.approx(0.25)
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    big = mcnemar_exact(3000, 2700)  # exact integers, no overflow
    assert 0 < big < 0.001


def test_holm() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


@pytest.mark.parametrize(("split", "family"), [("fold03", "logo"), ("fold25", "logo"), ("split2", "official"),
                                               ("random", "random"), ("groups", "groups"),
                                               ("stratified20", "stratified20")])
def test_protocol_family(split: str, family: str) -> None:
    assert protocol_family(split) == family


def test_table_values(sweep: Path) -> None:
    rows = aggregate(load_runs(sweep))
    by = {(r["model"], r["leaky"]): r for r in rows}
    gru = by[("gru", False)]
    assert (gru["dataset"], gru["protocol"], gru["runs"], gru["seeds"], gru["splits"]) == ("synthetic", "official", 2, 2, 1)
    assert gru["top1_mean"] == pytest.approx(0.7)
    assert gru["top1_std"] == pytest.approx(math.sqrt(0.1**2 * 2))  # sample std of 0.8, 0.6
    assert gru["top5_mean"] == 1.0  # 3 classes: top-5 is everything
    # per-class recall: seed 0 (3/4, 3/3, 2/3), seed 1 (2/4, 2/3, 2/3)
    assert gru["mean_class_acc_mean"] == pytest.approx(((0.75 + 1 + 2 / 3) / 3 + (0.5 + 2 / 3 + 2 / 3) / 3) / 2)
    assert gru["train_seconds_mean"] == pytest.approx(11.0)
    assert gru["params"] == 1_000_000 and gru["efficiency"] == pytest.approx(70.0)
    assert by[("lstm", False)]["top1_mean"] == pytest.approx(0.3) and by[("lstm", False)]["top1_std"] == 0
    assert by[("mean_pool", False)]["efficiency"] == pytest.approx(50 / 0.2)
    assert "within_pair_reversed_mean" in gru
    # sorted best first within a group, leaky rows in their own group
    assert [(r["model"], r["leaky"]) for r in rows] == [("gru", False), ("mean_pool", False), ("lstm", False),
                                                       ("gru", True)]


def test_leaky_rows_are_separate_and_marked(sweep: Path, tmp_path: Path) -> None:
    write_report(sweep, tmp_path / "out", plots=False)
    rows = _rows(tmp_path / "out" / "report.csv")
    required = {"model", "runs", "top1_mean", "top1_std", "top5_mean", "mean_class_acc_mean", "params",
                "train_seconds_mean", "efficiency", "leaky", "dataset", "protocol", "top5_std",
                "within_pair_reversed_mean"}
    assert required <= set(rows[0])
    leaky = [r for r in rows if r["leaky"] == "True"]
    assert [(r["model"], r["protocol"], r["runs"], r["top1_mean"], r["top1_std"]) for r in leaky] == [
        ("gru", "random", "1", "1.0", "")]
    md = (tmp_path / "out" / "report.md").read_text()
    assert f"gru {LEAKY_NOTE}" in md and md.count(LEAKY_NOTE) >= 2  # the row and its section


def test_same_split_leaky_and_not_never_share_a_row() -> None:
    def run(split: str, leaky: bool, seed: int, top1: float) -> Run:
        m = {"dataset": "ucf50", "split": split, "leaky": leaky, "model": "gru", "seed": seed, "top1": top1,
             "top5": 1.0, "mean_class_acc": top1, "params": 10}
        return Run(path=Path("."), metrics=m)

    runs = [run(f"fold{f:02d}", False, s, 0.5) for f in (1, 2, 3) for s in (0, 1)] + [run("fold01", True, 0, 0.9)]
    rows = aggregate(runs)
    assert [(r["protocol"], r["leaky"], r["runs"], r["splits"], r["seeds"]) for r in rows] == [
        ("logo", False, 6, 3, 2), ("logo", True, 1, 1, 1)]


def test_significance(sweep: Path, tmp_path: Path) -> None:
    write_report(sweep, tmp_path / "out", plots=False)
    tests = {(t["model_a"], t["model_b"]): t for t in _rows(tmp_path / "out" / "significance.csv")}
    t = tests[("gru", "lstm")]
    assert (t["runs"], t["videos"], t["a_only"], t["b_only"]) == ("2", "20", "10", "2")
    assert float(t["diff"]) == pytest.approx(40.0)  # (14 - 6) / 20 videos
    assert float(t["p_value"]) == pytest.approx(0.0386, abs=1e-4) and t["significant"] == "True"
    # Holm over the 3 pairs: gru-lstm has the smallest p (others 4/0 -> 0.125 and 6/2 -> 0.289)
    assert float(t["p_holm"]) == pytest.approx(3 * mcnemar_exact(10, 2)) and t["significant_holm"] == "False"
    assert float(tests[("mean_pool", "lstm")]["p_value"]) == pytest.approx(2 * (1 + 8 + 28) / 2**8)
    assert tests[("gru", "mean_pool")]["b_only"] == "0"
    assert not any("random" == r["protocol"] for r in tests.values())  # one model alone: nothing to pair
    assert "gru vs lstm" in (tmp_path / "out" / "report.md").read_text()


def test_ensemble_fixes_errors(tmp_path: Path) -> None:
    labels, videos = [0, 1, 2, 0], VIDEOS[:4]
    gru = np.array([[0.4, 0.6, 0.0], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9], [0.9, 0.05, 0.05]])  # wrong on video 0
    lstm = np.array([[0.9, 0.1, 0.0], [0.0, 0.4, 0.6], [0.05, 0.05, 0.9], [0.9, 0.05, 0.05]])  # wrong on video 1
    for seed in (0, 1):
        write_run(tmp_path / f"g{seed}", model="gru", seed=seed, probs=gru, labels=labels, videos=videos, train_seconds=3)
        write_run(tmp_path / f"l{seed}", model="lstm", seed=seed, probs=lstm, labels=labels, videos=videos,
                  params=500_000, order=[3, 2, 1, 0], train_seconds=4)
    assert main([str(tmp_path), "--ensemble", "gru,lstm", "--no-plots"]) == 0
    rows = {r["model"]: r for r in _rows(tmp_path / "report.csv")}
    assert float(rows["gru"]["top1_mean"]) == float(rows["lstm"]["top1_mean"]) == 0.75
    ens = rows["ensemble(gru+lstm)"]
    assert (ens["runs"], float(ens["top1_mean"]), float(ens["mean_class_acc_mean"])) == ("2", 1.0, 1.0)
    assert int(ens["params"]) == 1_500_000 and float(ens["train_seconds_mean"]) == 7.0
    assert float(ens["within_pair_reversed_mean"]) == 1.0

    runs = load_runs(tmp_path)
    with pytest.raises(ValueError, match="no .* has one run"):
        ensemble(runs, ["gru", "transformer"])
    runs[-1].videos = [v.replace("A/", "X/") for v in runs[-1].videos]
    with pytest.raises(ValueError, match="different videos"):
        ensemble(runs, ["gru", "lstm"])


def test_every_plot_is_written(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = write_report(sweep, out, ensembles=["gru,lstm"])
    names = {p.name for p in result["files"]}
    # two groups (official and leaky random): file names carry the group
    expected = {"report.md", "report.csv", "significance.csv", "comparison.png", "curves_grid.png",
                *(f"curves_synthetic-official_{m}.png" for m in ("gru", "lstm", "mean_pool")),
                "curves_synthetic-random-leaky_gru.png", "confusion_synthetic-official_gru.png",
                "classes_synthetic-official_gru.png", "confusion_synthetic-random-leaky_gru.png",
                "classes_synthetic-random-leaky_gru.png"}
    assert expected <= names
    for name in expected:
        assert (out / name).stat().st_size > 0
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"]({name})" in (out / "report.md").read_text()


def test_one_group_plots_are_named_by_model(tmp_path: Path) -> None:
    for seed in (0, 1):
        write_run(tmp_path / f"g{seed}", model="gru", seed=seed, probs=probs_for(first(7)))
        write_run(tmp_path / f"m{seed}", model="mean_pool", seed=seed, probs=probs_for(first(5)))
    files = {p.name for p in write_report(tmp_path)["files"]}
    assert {"curves_gru.png", "curves_mean_pool.png", "confusion_gru.png", "classes_gru.png"} <= files


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(tmp_path)]) == 2
    assert "no metrics.json" in capsys.readouterr().err
    (tmp_path / "metrics.json").write_text(json.dumps({"model": "gru"}))
    assert main([str(tmp_path)]) == 2
    assert "lacks" in capsys.readouterr().err


def test_notebook_runs_top_to_bottom(sweep: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The notebook's code cells, in order, on the fake sweep (no Jupyter needed)."""
    nb = json.loads((REPO / "notebooks" / "report.ipynb").read_text())
    monkeypatch.setenv("UCFBENCH_REPORT_DIR", str(sweep))
    namespace: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "report.ipynb", "exec"), namespace)
    assert (sweep / "report.md").is_file() and (sweep / "comparison.png").is_file()


@pytest.mark.slow
def test_real_tiny_sweep_then_report(tmp_path: Path) -> None:
    env = {**os.environ, "UCFBENCH_HOME": str(tmp_path / "home")}
    sweep_dir = tmp_path / "sweep"
    run = subprocess.run([sys.executable, "-m", "ucfbench.run", "-m", "debug=tiny", "model=gru,mean_pool",
                          "seed=0,1", f"hydra.sweep.dir={sweep_dir}"],
                         env=env, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = subprocess.run([sys.executable, "-m", "ucfbench.report", str(sweep_dir), "--ensemble", "gru,mean_pool"],
                            env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    rows = {r["model"]: r for r in _rows(sweep_dir / "report.csv")}
    assert {m: rows[m]["runs"] for m in ("gru", "mean_pool")} == {"gru": "2", "mean_pool": "2"}
    assert rows["gru"]["leaky"] == "False" and rows["ensemble(gru+mean_pool)"]["runs"] == "2"
    assert (sweep_dir / "comparison.png").is_file() and (sweep_dir / "significance.csv").is_file()
