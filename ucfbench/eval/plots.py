"""Report figures (PNG, matplotlib's Agg canvas, no pyplot state): comparison, curves, confusion, classes."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ucfbench.eval.study import Run

CURVES = (("loss", "train/loss", "val/loss", 1.0), ("top-1 (%)", "train/top1", "val/top1", 100.0))


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _group(row: dict) -> tuple:
    return row["dataset"], row["protocol"], row["leaky"]


def slug(row: dict, *, with_group: bool) -> str:
    """File-name part for a row: the model, prefixed by its group when the report has several."""
    name = f"{row['dataset']}-{row['protocol']}{'-leaky' if row['leaky'] else ''}_{row['model']}" if with_group \
        else row["model"]
    return re.sub(r"[^\w.+-]+", "_", name).strip("_")


def label(row: dict, *, with_group: bool) -> str:
    """Axis label for a row; leaky rows say so."""
    text = f"{row['model']}\n{row['dataset']}/{row['protocol']}" if with_group else row["model"]
    return text + (" (leaky)" if row["leaky"] else "")


def _nan0(v: float) -> float:
    return 0.0 if v is None or math.isnan(v) else v


def comparison(rows: list[dict], path: Path) -> Path:
    """Seed 003's four panels: top-1, top-5, training time and parameters per row (± std)."""
    multi = len({_group(r) for r in rows}) > 1
    names = [label(r, with_group=multi) for r in rows]
    fig = Figure(figsize=(max(8, 1.1 * len(rows) * 2), 7.5), layout="constrained")
    axes = fig.subplots(2, 2)
    panels = [("top-1 accuracy (%)", "top1_mean", "top1_std", 100), ("top-5 accuracy (%)", "top5_mean", "top5_std", 100),
              ("training time (s)", "train_seconds_mean", "train_seconds_std", 1), ("parameters (M)", "params", None, 1e-6)]
    x = np.arange(len(rows))
    for ax, (title, key, err, scale) in zip(axes.flat, panels):
        values = [_nan0(r[key]) * scale for r in rows]
        errors = [_nan0(r[err]) * scale for r in rows] if err else None
        bars = ax.bar(x, values, yerr=errors, capsize=3, color=[f"C{i % 10}" for i in range(len(rows))])
        for bar, r, v in zip(bars, rows, values):
            if r["leaky"]:
                bar.set_hatch("//")
            ax.annotate(f"{v:.1f}" if scale != 1e-6 else f"{v:.2f}", (bar.get_x() + bar.get_width() / 2, v),
                        ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
        ax.set_title(title)
        ax.set_xticks(x, names, rotation=30 if len(rows) > 4 else 0, ha="right" if len(rows) > 4 else "center",
                      fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Model comparison (mean ± std over runs; hatched = leaky protocol)")
    return _save(fig, path)


def mean_history(runs: list[Run]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per history column: (epochs, mean over the runs that logged that epoch)."""
    acc: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for row in run.history:
            for key, value in row.items():
                if key != "epoch" and not math.isnan(value):
                    acc[key][row["epoch"]].append(value)
    return {k: (np.array(sorted(by)), np.array([np.mean(by[e]) for e in sorted(by)])) for k, by in acc.items()}


def _draw_curves(axes: np.ndarray, hist: dict, title: str) -> None:
    for ax, (ylabel, train, val, scale) in zip(axes, CURVES):
        for key, style in ((train, "-"), (val, "--")):
            if key in hist:
                epochs, values = hist[key]
                ax.plot(epochs, values * scale, style, marker="o", markersize=3, label=key.split("/")[0])
        ax.set(xlabel="epoch", ylabel=ylabel, title=f"{title}: {ylabel}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)


def curves(runs: list[Run], title: str, path: Path) -> Path:
    """Train / val loss and top-1 against epoch, mean over ``runs`` (from history.csv)."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    _draw_curves(fig.subplots(1, 2), mean_history(runs), f"{title} (mean of {len(runs)})")
    return _save(fig, path)


def curves_grid(items: list[tuple[str, list[Run]]], path: Path) -> Path:
    """Every head's curves, one row each, axes shared per column so heads compare at a glance."""
    fig = Figure(figsize=(10, 2.8 * len(items) + 0.5), layout="constrained")
    axes = fig.subplots(len(items), 2, sharey="col", squeeze=False)
    for row_axes, (title, runs) in zip(axes, items):
        _draw_curves(row_axes, mean_history(runs), title)
    return _save(fig, path)


def summed_confusion(runs: list[Run]) -> tuple[list[str], np.ndarray, int]:
    """Confusion summed over the runs whose class list matches the first's; (classes, (C, C), runs used)."""
    usable = [r for r in runs if r.confusion is not None]
    if not usable:
        return [], np.zeros((0, 0), dtype=np.int64), 0
    classes = usable[0].classes
    same = [r for r in usable if r.classes == classes]
    return classes, np.sum([r.confusion for r in same], axis=0), len(same)


def confusion(runs: list[Run], title: str, path: Path) -> Path:
    """Row-normalised confusion matrix (colour) with counts where it is small enough to read."""
    classes, conf, used = summed_confusion(runs)
    c = len(classes)
    norm = conf / np.maximum(conf.sum(1, keepdims=True), 1)
    size = min(max(5.0, 0.22 * c + 3), 24)
    fig = Figure(figsize=(size + 1, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    if c <= 60:
        ax.set_xticks(range(c), classes, rotation=90, fontsize=max(4, 10 - c // 10))
        ax.set_yticks(range(c), classes, fontsize=max(4, 10 - c // 10))
    if c <= 15:
        for i, j in np.ndindex(conf.shape):
            if conf[i, j]:
                ax.text(j, i, str(conf[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=f"{title}: confusion, sum of {used} run(s)")
    return _save(fig, path)


def classes(runs: list[Run], title: str, path: Path, k: int = 10) -> Path:
    """The ``k`` best and worst classes by accuracy (all classes when there are at most 2k)."""
    names, conf, used = summed_confusion(runs)
    support = conf.sum(1)
    acc = np.divide(np.diag(conf), support, out=np.full(len(names), np.nan), where=support > 0)
    order = [i for i in np.argsort(-np.nan_to_num(acc, nan=-1), kind="stable") if support[i] > 0]
    shown = order if len(order) <= 2 * k else order[:k] + order[-k:]
    fig = Figure(figsize=(8, 0.32 * len(shown) + 1.5), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(shown))[::-1]
    worst = set(order[-k:]) if len(order) > 2 * k else {i for i in order if acc[i] < np.nanmedian(acc)}
    bars = ax.barh(y, [100 * acc[i] for i in shown], color=["C3" if i in worst else "C2" for i in shown])
    ax.bar_label(bars, [f"{100 * acc[i]:.1f}" for i in shown], padding=2, fontsize=7)
    ax.set_yticks(y, [f"{names[i]} (n={support[i]})" for i in shown], fontsize=8)
    ax.set(xlim=(0, 100), xlabel="accuracy (%)",
           title=f"{title}: best and worst classes, sum of {used} run(s)" if len(shown) < len(order)
           else f"{title}: per-class accuracy, sum of {used} run(s)")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def write_plots(rows: list[dict], runs: list[Run], out: Path) -> list[Path]:
    """Every figure of the report into ``out``; returns the files written."""
    multi = len({_group(r) for r in rows}) > 1
    cell: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        cell[(*run.group, run.model)].append(run)
    written = [comparison(rows, out / "comparison.png")]
    grid = []
    for row in rows:
        rs = [r for r in cell[(*_group(row), row["model"])] if r.history]
        if rs:
            title = label(row, with_group=multi).replace("\n", " ")
            written.append(curves(rs, title, out / f"curves_{slug(row, with_group=multi)}.png"))
            grid.append((title, rs))
    if grid:
        written.append(curves_grid(grid, out / "curves_grid.png"))
    for group in dict.fromkeys(_group(r) for r in rows):
        # Rows are sorted best first within a group; the best *head*, so ensembles only when alone.
        group_rows = [r for r in rows if _group(r) == group]
        best = next((r for r in group_rows if not r["model"].startswith("ensemble(")), group_rows[0])
        rs = [r for r in cell[(*group, best["model"])] if r.confusion is not None]
        if rs:
            title = label(best, with_group=multi).replace("\n", " ")
            written.append(confusion(rs, title, out / f"confusion_{slug(best, with_group=multi)}.png"))
            written.append(classes(rs, title, out / f"classes_{slug(best, with_group=multi)}.png"))
    return written
