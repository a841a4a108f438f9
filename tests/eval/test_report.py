"""``ucfbench report``: aggregation, leaky rows, McNemar tests, ensembles and plots on fake sweeps."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ucfbench.data.types import VideoRecord
from ucfbench.eval.run_dir import Run, load_runs, protocol_family, run_protocol, split_label, write_test_results
from ucfbench.eval.study import (
    LEAKY_NOTE,
    aggregate,
    bootstrap_accuracy,
    describe_groups,
    ensemble,
    holm,
    mcnemar_exact,
    t_interval,
    t_quantile_975,
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
    # chance 1/3: (0.7 - 1/3) / (2/3) = 0.55 chance-corrected
    assert gru["num_classes"] == 3 and gru["chance"] == pytest.approx(1 / 3)
    assert gru["top1_chance_corrected_mean"] == pytest.approx(0.55) and gru["params"] == 1_000_000
    assert not any("efficiency" in k for k in gru)  # per-parameter scores ranked order-blind heads first
    assert by[("lstm", False)]["top1_mean"] == pytest.approx(0.3) and by[("lstm", False)]["top1_std"] == 0
    # two runs: t-interval over them (here wider than [0, 1], clipped); one run: bootstrap over its videos
    assert (gru["ci_method"], gru["top1_ci95_low"], gru["top1_ci95_high"]) == ("t_over_runs", 0.0, 1.0)
    assert by[("lstm", False)]["top1_ci95_low"] == by[("lstm", False)]["top1_ci95_high"] == pytest.approx(0.3)
    leaky = by[("gru", True)]
    assert (leaky["ci_method"], leaky["top1_ci95_low"], leaky["top1_ci95_high"]) == ("bootstrap_over_videos", 1.0, 1.0)
    assert "within_pair_reversed_mean" in gru
    # sorted best first within a group, leaky rows in their own group
    assert [(r["model"], r["leaky"]) for r in rows] == [("gru", False), ("mean_pool", False), ("lstm", False),
                                                       ("gru", True)]


def test_leaky_rows_are_separate_and_marked(sweep: Path, tmp_path: Path) -> None:
    write_report(sweep, tmp_path / "out", plots=False)
    rows = _rows(tmp_path / "out" / "report.csv")
    required = {"model", "runs", "top1_mean", "top1_std", "top5_mean", "mean_class_acc_mean", "params",
                "train_seconds_mean", "leaky", "dataset", "protocol", "top5_std",
                "within_pair_reversed_mean", "top1_ci95_low", "top1_ci95_high", "ci_method", "num_classes",
                "chance", "top1_chance_corrected_mean"}
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
    assert main([str(tmp_path), "ensemble=gru,lstm", "plots=false"]) == 0
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
    result = write_report(sweep, out, ensembles=["gru,lstm"], dpi=60)
    names = {p.name for p in result["files"]}
    heads = ("gru", "lstm", "mean_pool", "ensemble_gru+lstm")
    # two groups (official and leaky random): file names carry the group; every head gets its confusion
    stems = {"comparison", "curves_grid", *(f"curves_synthetic-official_{m}" for m in ("gru", "lstm", "mean_pool")),
             "curves_synthetic-random-leaky_gru", "confusion_synthetic-random-leaky_gru",
             "classes_synthetic-random-leaky_gru",
             *(f"{kind}_synthetic-official_{m}" for kind in ("confusion", "classes") for m in heads)}
    expected = {"report.md", "report.csv", "report.tex", "significance.csv",
                *(f"{stem}.{fmt}" for stem in stems for fmt in ("png", "pdf", "svg"))}
    assert expected <= names and {p.name for p in result["figures"]} == names - {
        "report.md", "report.csv", "report.tex", "significance.csv"}
    md = (out / "report.md").read_text()
    for name in expected:
        head = (out / name).read_bytes()[:200]
        if name.endswith(".png"):
            assert head[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"]({name})" in md
        elif name.endswith(".pdf"):
            assert head[:5] == b"%PDF-"
        elif name.endswith(".svg"):
            assert b"<svg" in (out / name).read_bytes()
    assert "](comparison.pdf)" not in md and "also as PDF and SVG" in md


def _png_width(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:20], "big")  # IHDR width


def test_dpi_and_formats(sweep: Path, tmp_path: Path) -> None:
    assert main([str(sweep), f"out={tmp_path / 'a'}", "dpi=50", "formats=png"]) == 0
    assert main([str(sweep), f"out={tmp_path / 'b'}", "dpi=100", "formats=png,svg"]) == 0
    assert not list((tmp_path / "a").glob("*.pdf")) and not list((tmp_path / "a").glob("*.svg"))
    assert (tmp_path / "b" / "comparison.svg").is_file() and not (tmp_path / "b" / "comparison.pdf").exists()
    ratio = _png_width(tmp_path / "b" / "comparison.png") / _png_width(tmp_path / "a" / "comparison.png")
    assert 1.7 < ratio < 2.2  # not exactly 2: text is laid out per resolution
    assert main([str(sweep), f"out={tmp_path / 'c'}", "formats=png,jpg"]) == 2


def test_the_same_runs_give_the_same_figure_files(sweep: Path, tmp_path: Path) -> None:
    for out in ("a", "b"):
        assert main([str(sweep), f"out={tmp_path / out}", "dpi=40", "formats=png,pdf,svg"]) == 0
    files = sorted(p.name for p in (tmp_path / "a").iterdir() if p.suffix in (".png", ".pdf", ".svg"))
    assert any(name.endswith(".svg") for name in files)
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_latex_table(sweep: Path, tmp_path: Path) -> None:
    write_run(sweep / "7", model="stacked_lstm", seed=0, probs=probs_for(first(4)))
    write_report(sweep, tmp_path, ensembles=["gru,lstm"], plots=False)
    tex = (tmp_path / "report.tex").read_text()
    assert tex.count(r"\begin{table}") == tex.count(r"\end{table}") == 2  # official and leaky random
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert tex.count(rule) == 2
    assert r"\texttt{stacked\_lstm}" in tex and "stacked_lstm" not in tex.replace(r"\_", "")
    assert r"\texttt{ensemble(gru+lstm)}" in tex
    assert r"70.0 $\pm$ 14.1" in tex  # gru: two runs, mean ± std
    assert r"\textbf{70.0 $\pm$ 14.1}" in tex  # the best top-1 of its table
    assert "40.0 &" in tex and r"40.0 $\pm$" not in tex  # stacked_lstm: one run, no ±
    assert r"\label{tab:synthetic-random-leaky}" in tex and r"\textbf{Warning:}" in tex
    assert "⚠" not in tex and "·" not in tex  # no characters pdflatex cannot typeset
    body = [line for line in tex.splitlines() if line.endswith(r"\\")]
    assert {line.count(" & ") for line in body} == {7} and tex.count(r"\begin{tabular}{lrrrrrrr}") == 2


def test_t_interval_and_quantiles() -> None:
    low, high = t_interval([0.5, 0.6, 0.7])  # mean 0.6, std 0.1, t(0.975, 2) = 4.3027
    assert (low, high) == pytest.approx((0.6 - 4.3027 * 0.1 / math.sqrt(3), 0.6 + 4.3027 * 0.1 / math.sqrt(3)))
    assert t_interval([0.95, 1.0, 1.0]) [1] == 1.0  # clipped to a fraction
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 5, 29, 30, 31, 50, 200):
        assert t_quantile_975(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), abs=2e-4)


def test_bootstrap_ci_is_deterministic_and_contains_the_estimate() -> None:
    first_ci, again = bootstrap_accuracy(200, 240), bootstrap_accuracy(200, 240)
    assert first_ci == again
    low, high = first_ci
    assert low < 200 / 240 < high
    half = 1.96 * math.sqrt((200 / 240) * (40 / 240) / 240)  # the normal approximation, for scale
    assert high - low == pytest.approx(2 * half, rel=0.1)
    assert bootstrap_accuracy(240, 240) == (1.0, 1.0) and bootstrap_accuracy(0, 8) == (0.0, 0.0)
    assert bootstrap_accuracy(200, 240, seed=1) != first_ci  # the seed is what makes it repeat


def test_ci_columns_per_row(tmp_path: Path) -> None:
    many = VIDEOS * 6  # 60 test videos: not a tiny set
    labels = LABELS * 6
    write_run(tmp_path / "g0", model="gru", seed=0, probs=probs_for([i % 3 > 0 for i in range(60)], labels),
              labels=labels, videos=[f"{i}/{v}" for i, v in enumerate(many)])
    write_report(tmp_path, plots=False)
    row = _rows(tmp_path / "report.csv")[0]
    assert row["ci_method"] == "bootstrap_over_videos" and float(row["top1_mean"]) == pytest.approx(40 / 60)
    assert float(row["top1_ci95_low"]) < 40 / 60 < float(row["top1_ci95_high"])
    write_report(tmp_path, plots=False)
    assert _rows(tmp_path / "report.csv")[0] == row  # the same interval on every report
    md = (tmp_path / "report.md").read_text()
    assert "percentile bootstrap over the test videos" in md and "tiny" not in md
    assert "*synthetic · protocol official (split1) · 3 classes · 60 test videos · 1 seed*" in md


def _fake_rows() -> list[dict]:
    runs = []
    for seed, n in ((0, 8), (1, 6)):
        runs.append(Run(path=Path("."), metrics={"dataset": "synthetic", "split": "split1", "model": "gru",
                                                 "seed": seed, "top1": n / 10, "top5": 1.0, "mean_class_acc": n / 10,
                                                 "params": 10**6, "num_classes": 3, "test_videos": 10,
                                                 "within_pair_reversed": 0.9}))
    runs.append(Run(path=Path("."), metrics={"dataset": "synthetic", "split": "split1", "model": "mean_pool",
                                             "seed": 0, "top1": 0.4, "top5": 1.0, "mean_class_acc": 0.4,
                                             "params": 10**5, "num_classes": 3, "test_videos": 10,
                                             "within_pair_reversed": 0.5}))
    return aggregate(runs), describe_groups(runs)


def test_error_bars_only_for_rows_with_several_runs() -> None:
    from matplotlib.container import ErrorbarContainer

    from ucfbench.eval.plots import bar_data, comparison_figure

    rows, groups = _fake_rows()
    assert [r["model"] for r in rows] == ["gru", "mean_pool"] and [r["runs"] for r in rows] == [2, 1]
    values, errors = bar_data(rows, "top1")
    assert values == pytest.approx([70.0, 40.0]) and errors[0] == pytest.approx(100 * math.sqrt(0.02))
    assert errors[1] is None
    fig = comparison_figure(rows, groups)
    top1 = fig.axes[0]
    bars = [c for c in top1.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 1
    segments = bars[0].lines[2][0].get_segments()
    assert [seg[0][0] for seg in segments] == [0]  # one error bar, on gru (x = 0); none on mean_pool's one run
    assert segments[0][:, 1] == pytest.approx([70 - errors[0], 70 + errors[0]])


def test_chance_lines_and_within_pair_panel() -> None:
    from ucfbench.eval.plots import comparison_figure

    rows, groups = _fake_rows()
    fig = comparison_figure(rows, groups)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[:2] == ["top-1 accuracy (%)", "top-5 accuracy (%)"] and titles[2].startswith("within-pair")
    assert not any("training" in t for t in titles)  # training time is not plotted as a comparison

    def chance(ax) -> list[float]:
        return [seg[0][1] for c in ax.collections if c.get_label() == "chance" for seg in c.get_segments()]

    assert chance(fig.axes[0]) == pytest.approx([100 / 3])  # 1 / num_classes
    assert chance(fig.axes[1]) == pytest.approx([100.0])  # top-5 of 3 classes
    assert chance(fig.axes[2]) == pytest.approx([50.0])  # within a pair
    no_pairs = [{k: v for k, v in r.items() if not k.startswith("within_pair")} for r in rows]
    titles = [ax.get_title() for ax in comparison_figure(no_pairs, groups).axes if ax.get_visible()]
    assert not any(t.startswith("within-pair") for t in titles)
    assert "synthetic · protocol official (split1) · 3 classes · 10 test videos" in fig._suptitle.get_text()


def test_curves_have_their_own_y_axes(sweep: Path) -> None:
    from ucfbench.eval.plots import curves_figure

    runs = load_runs(sweep)
    big = [r for r in runs if r.model == "mean_pool"]
    for r in big:
        r.history = [{**h, "val/loss": 12.0} for h in r.history]
    fig = curves_figure([("gru", [r for r in runs if r.model == "gru"]), ("mean_pool", big)])
    loss_gru, loss_mean = fig.axes[0], fig.axes[2]
    assert loss_gru.get_shared_y_axes().get_siblings(loss_gru) == [loss_gru]
    assert loss_gru.get_ylim()[1] < 2 < 12 <= loss_mean.get_ylim()[1]


def test_class_labels_stay_inside_the_axes(sweep: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from ucfbench.eval.plots import classes_figure

    runs = [r for r in load_runs(sweep) if r.model == "gru" and r.metrics["leaky"]]  # 100% on every class
    fig = classes_figure(runs, "gru")
    FigureCanvasAgg(fig).draw()
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_text() == "100.0"]
    assert len(labels) == 3
    for text in labels:
        assert text.get_window_extent().x1 <= ax.get_window_extent().x1


def test_per_class_figure_has_a_legend_chance_and_a_colourblind_palette(sweep: Path) -> None:
    from ucfbench.eval.plots import BEST, PALETTE, WORST, classes_figure

    runs = [r for r in load_runs(sweep) if r.model == "gru" and r.metrics["seed"] == 0 and not r.metrics["leaky"]]
    fig = classes_figure(runs, "gru")  # A 3/4, B 3/3, C 2/3, every class shown: one colour, no verdict
    ax = fig.axes[0]
    assert {matplotlib_colors_to_hex(b.get_facecolor()) for b in ax.patches} == {BEST.lower()}
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["class accuracy", "mean class accuracy 80.6", "chance 33.3 (1/3 classes)"]
    assert [line.get_xdata()[0] for line in ax.lines] == pytest.approx([(75 + 100 + 200 / 3) / 3, 100 / 3])
    fig = classes_figure(runs, "gru", k=1)  # the best (B) and the worst (C) class: two colours, both named
    assert [t.get_text() for t in fig.legends[0].get_texts()][:2] == ["best classes", "worst classes"]
    assert [matplotlib_colors_to_hex(b.get_facecolor()) for b in fig.axes[0].patches] == [BEST.lower(), WORST.lower()]
    assert {BEST, WORST} <= set(PALETTE)


def matplotlib_colors_to_hex(rgba: tuple) -> str:
    from matplotlib.colors import to_hex

    return to_hex(rgba)


def test_curves_mark_the_selected_epoch_and_say_how_many_runs(sweep: Path) -> None:
    from ucfbench.eval.plots import curves_figure, selected_epoch

    runs = [r for r in load_runs(sweep) if r.model == "gru" and not r.metrics["leaky"]]
    assert [selected_epoch(r) for r in runs] == [0, 0]  # no checkpoint name: the best val/top1 in history
    runs[0].metrics["checkpoint"] = "/x/checkpoints/best-epoch001.ckpt"
    assert selected_epoch(runs[0]) == 1
    fig = curves_figure([("gru", runs[:1])])
    assert [ax.get_title() for ax in fig.axes] == ["gru: loss", "gru: top-1 (%)"]
    for ax in fig.axes:
        marks = [line for line in ax.lines if line.get_label().startswith("selected epoch")]
        assert [m.get_xdata()[0] for m in marks] == [1]
        assert "selected epoch (best val top-1)" in [t.get_text() for t in ax.get_legend().get_texts()]
    fig = curves_figure([("gru", runs)])
    assert fig.axes[0].get_title() == "gru (mean of 2 runs): loss"
    assert "selected epochs (best val top-1)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_bar_labels_have_one_decimal_on_every_accuracy_panel() -> None:
    import re

    from ucfbench.eval.plots import comparison_figure

    rows, groups = _fake_rows()
    fig = comparison_figure(rows, groups)
    for ax in fig.axes[:3]:  # top-1, top-5, within-pair
        values = [t.get_text() for t in ax.texts if not t.get_text().startswith("chance")]
        assert values and all(re.fullmatch(r"\d+\.\d", v) for v in values), values


def test_single_seed_caveat(sweep: Path, tmp_path: Path) -> None:
    """One seed: the report says what its CIs and McNemar tests do not cover; several seeds: it does not."""
    result = write_report(sweep, tmp_path / "two", plots=False)  # seeds 0 and 1; the leaky group has one row
    assert "seed-to-seed" not in result["markdown"] and "seed-to-seed" not in result["latex"]
    one = tmp_path / "one"
    for run in ("0", "2", "4"):  # gru, lstm, mean_pool of seed 0
        shutil.copytree(sweep / run, one / run)
    result = write_report(one, tmp_path / "out", plots=False)
    section = result["markdown"].split("## synthetic · official")[1]
    assert "> One seed:" in section and "do not cover seed-to-seed variation" in section
    assert "do not cover seed-to-seed variation" in result["latex"].split(r"\caption{")[1].split(r"\label")[0]


def test_confusion_for_chosen_heads(sweep: Path, tmp_path: Path) -> None:
    files = {p.name for p in write_report(sweep, tmp_path, confusion="lstm,mean_pool", formats=("png",))["files"]}
    assert {n for n in files if n.startswith("confusion_")} == {"confusion_synthetic-official_lstm.png",
                                                                "confusion_synthetic-official_mean_pool.png"}
    assert main([str(sweep), f"out={tmp_path}", "confusion=gruu"]) == 2


def test_warning_banners(sweep: Path, tmp_path: Path) -> None:
    from ucfbench.eval.plots import comparison_figure

    result = write_report(sweep, tmp_path, plots=False)  # 10 test videos, one leaky group
    md = result["markdown"]
    banner = md.split("\n\n")[1]
    assert banner.startswith("> **Read with care.**")
    assert "tiny test set: 10 test videos per run (under 50)" in banner and LEAKY_NOTE in banner
    fig = comparison_figure(result["rows"], result["groups"])
    title = fig._suptitle.get_text()
    assert "\n⚠ " in title and "leaky split" in title and "tiny test set (10 videos)" in title
    (sweep / "0" / ".hydra").mkdir()
    (sweep / "0" / ".hydra" / "overrides.yaml").write_text("- model=gru\n- debug=tiny\n")
    assert "debug run" in write_report(sweep, tmp_path, plots=False)["markdown"]


@pytest.mark.parametrize(("metrics", "protocol", "split"), [
    ({"split": "fold03"}, "logo", "fold03"),
    ({"split": "split2"}, "official", "split2"),
    ({"split": "random"}, "random", "random"),
    ({"protocol": "logo", "split": None, "fold": 3}, "logo", "fold03"),
    ({"protocol": "official", "split": 2}, "official", "split2"),
    ({"protocol": "groups", "split": "1", "fold": 2}, "groups", "split1/fold02"),
])
def test_protocol_split_fold_fields(metrics: dict, protocol: str, split: str) -> None:
    assert (run_protocol(metrics), split_label(metrics)) == (protocol, split)


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(tmp_path)]) == 2
    assert "no metrics.json" in capsys.readouterr().err
    (tmp_path / "metrics.json").write_text(json.dumps({"model": "gru"}))
    assert main([str(tmp_path)]) == 2
    assert "lacks" in capsys.readouterr().err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _run_notebook_cells(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """The notebook's code cells, in order, in this process, with ``cwd`` as the notebook's folder."""
    nb = json.loads((REPO / "notebooks" / "report.ipynb").read_text())
    monkeypatch.chdir(cwd)
    namespace: dict = {}
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "report.ipynb", "exec"), namespace)
    return namespace


def test_notebook_reads_the_sweep_and_writes_beside_itself(sweep: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The notebook leaves the command line's report in the sweep byte for byte and adds no ensemble."""
    assert main([str(sweep), "formats=png", "dpi=40"]) == 0
    before = _snapshot(sweep)
    monkeypatch.setenv("UCFBENCH_REPORT_DIR", str(sweep))
    monkeypatch.delenv("UCFBENCH_REPORT_OUT", raising=False)
    (tmp_path / "nb").mkdir()
    _run_notebook_cells(tmp_path / "nb", monkeypatch)
    assert _snapshot(sweep) == before
    out = tmp_path / "nb" / "report_sweep"
    assert (out / "report.md").is_file() and (out / "comparison.png").is_file()
    assert not [r for r in _rows(out / "report.csv") if r["model"].startswith("ensemble")]


def test_notebook_refuses_to_write_into_the_sweep(sweep: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UCFBENCH_REPORT_DIR", str(sweep))
    monkeypatch.setenv("UCFBENCH_REPORT_OUT", str(sweep))
    with pytest.raises(ValueError, match="is the sweep itself"):
        _run_notebook_cells(tmp_path, monkeypatch)
    assert not (sweep / "report.md").exists()


@pytest.mark.slow
def test_real_tiny_sweep_then_report(tmp_path: Path) -> None:
    env = {**os.environ, "UCFBENCH_HOME": str(tmp_path / "home")}
    sweep_dir = tmp_path / "sweep"
    run = subprocess.run([sys.executable, "-m", "ucfbench.run", "-m", "debug=tiny", "model=gru,mean_pool",
                          "seed=0,1", f"hydra.sweep.dir={sweep_dir}"],
                         env=env, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = subprocess.run([sys.executable, "-m", "ucfbench.report", str(sweep_dir), "ensemble=gru,mean_pool"],
                            env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    rows = {r["model"]: r for r in _rows(sweep_dir / "report.csv")}
    assert {m: rows[m]["runs"] for m in ("gru", "mean_pool")} == {"gru": "2", "mean_pool": "2"}
    assert rows["gru"]["leaky"] == "False" and rows["ensemble(gru+mean_pool)"]["runs"] == "2"
    assert (sweep_dir / "comparison.png").is_file() and (sweep_dir / "significance.csv").is_file()
    md = (sweep_dir / "report.md").read_text()
    assert "tiny test set" in md and "debug run" in md  # debug=tiny: 4 classes, a handful of test videos
    assert {"top1_ci95_low", "top1_ci95_high", "ci_method"} <= set(rows["gru"])
    assert r"\toprule" in (sweep_dir / "report.tex").read_text() and (sweep_dir / "comparison.pdf").is_file()


@pytest.mark.slow
def test_notebook_executes_headless(sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """notebooks/report.ipynb run headless as the README says (``jupyter execute --output``), on a sweep that
    already holds the command line's report: that report stays byte-identical, the notebook's report and
    the executed notebook land beside the notebook."""
    import nbformat

    assert main([str(sweep), "formats=png,svg", "dpi=40"]) == 0
    before = _snapshot(sweep)
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "report.ipynb").write_bytes((REPO / "notebooks" / "report.ipynb").read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "UCFBENCH_REPORT_OUT"}
    env.update(UCFBENCH_REPORT_DIR=str(sweep), PWD=str(tmp_path))
    jupyter = Path(sys.executable).parent / "jupyter"
    proc = subprocess.run([str(jupyter), "execute", "notebooks/report.ipynb", "--output", "report_executed",
                           "--kernel_name", "python3"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert _snapshot(sweep) == before
    assert {"report.md", "report.tex", "report.csv", "comparison.svg"} <= {
        p.name for p in (folder / "report_sweep").iterdir()}
    nb = nbformat.read(folder / "report_executed.ipynb", as_version=4)
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5  # the figures, shown inline
    assert any("text/markdown" in o.get("data", {}) and "top-1 95% CI" in o["data"]["text/markdown"] for o in outputs)
