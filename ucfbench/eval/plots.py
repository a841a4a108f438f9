"""Report figures (matplotlib's Agg canvas, no pyplot state): comparison, curves, confusion, classes.

Every figure is written in each of ``formats`` (PNG, PDF, SVG by default) at ``dpi``; PDF and SVG
carry no creation date and SVG ids come from a fixed salt, so the same runs give the same files.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ucfbench.eval.run_dir import Run, group_of
from ucfbench.eval.study import has_values, pair_columns

CURVES = (("loss", "train/loss", "val/loss", 1.0), ("top-1 (%)", "train/top1", "val/top1", 100.0))
# Okabe & Ito's palette: distinguishable with every common colour-vision deficiency and in greyscale.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
BEST, WORST = PALETTE[0], PALETTE[5]  # blue and vermillion: the per-class figure's two lists
FORMATS = ("png", "pdf", "svg")
DPI = 150
_METADATA = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}


def save(fig: Figure, path: Path, *, dpi: int = DPI, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """``fig`` as ``path`` with each suffix of ``formats``; returns the files written."""
    FigureCanvasAgg(fig)
    written = []
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        with rc_context({"svg.hashsalt": "ucfbench"}):  # SVG element ids: fixed, not random
            fig.savefig(target, dpi=dpi, bbox_inches="tight", metadata=_METADATA.get(fmt))
        written.append(target)
    return written


def slug(row: dict, *, with_group: bool) -> str:
    """File-name part for a row: the model, prefixed by its group when the report has several."""
    name = f"{row['dataset']}-{row['protocol']}{'-leaky' if row['leaky'] else ''}_{row['model']}" if with_group \
        else row["model"]
    return re.sub(r"[^\w.+-]+", "_", name).strip("_")


def label(row: dict, *, with_group: bool) -> str:
    """Axis label for a row; leaky rows say so."""
    text = f"{row['model']}\n{row['dataset']}/{row['protocol']}" if with_group else row["model"]
    return text + (" (leaky)" if row["leaky"] else "")


def _xticks(ax, x: np.ndarray, rows: list[dict]) -> None:
    """The rows' labels under the bars (with their group when the figure holds several; slanted past
    four rows) and a light horizontal grid."""
    multi = len({group_of(r) for r in rows}) > 1
    ax.set_xticks(x, [label(r, with_group=multi) for r in rows], rotation=30 if len(rows) > 4 else 0,
                  ha="right" if len(rows) > 4 else "center", fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def _suptitle(fig: Figure, title: str, rows: list[dict], groups: dict, sep: str) -> None:
    """``title``, the caption of the figure's group when it has one, and its groups' warnings (in red)."""
    infos = [groups[g] for g in dict.fromkeys(group_of(r) for r in rows) if g in groups]
    flags = list(dict.fromkeys(f for info in infos for f in info["flags"]))
    fig.suptitle(title + (f"{sep}{infos[0]['caption']}" if len(infos) == 1 else "")
                 + ("\n⚠ " + "; ".join(flags) if flags else ""), color="firebrick" if flags else "black")


def _nan0(v: float) -> float:
    return 0.0 if v is None or math.isnan(v) else v


def bar_data(rows: list[dict], key: str, scale: float = 100.0) -> tuple[list[float], list[float | None]]:
    """Bar heights and error bars of ``<key>_mean`` / ``<key>_std``: an error bar (± sample std) only
    for rows with more than one run; ``None`` for the others (one run has no spread to show)."""
    values = [_nan0(r[f"{key}_mean"]) * scale for r in rows]
    errors = [r[f"{key}_std"] * scale if r["runs"] > 1 and not math.isnan(r[f"{key}_std"]) else None for r in rows]
    return values, errors


def _bars(ax, x: np.ndarray, rows: list[dict], values: list[float], errors: list[float | None], *,
          width: float = 0.8, colors: list[str] | None = None, fmt: str = "{:.1f}") -> None:
    bars = ax.bar(x, values, width=width, color=colors or [PALETTE[i % len(PALETTE)] for i in range(len(rows))])
    for bar, r in zip(bars, rows):
        if r["leaky"]:
            bar.set_hatch("//")
    with_err = [i for i, e in enumerate(errors) if e is not None]
    if with_err:
        ax.errorbar(x[with_err], [values[i] for i in with_err], yerr=[errors[i] for i in with_err], fmt="none",
                    ecolor="black", elinewidth=1, capsize=3, label="± std over runs")
    for i, (bar, v) in enumerate(zip(bars, values)):  # narrow bars (several per row) get upright labels
        ax.annotate(fmt.format(v), (bar.get_x() + bar.get_width() / 2, v + (errors[i] or 0)), ha="center",
                    va="bottom", fontsize=7, xytext=(0, 2), textcoords="offset points",
                    rotation=90 if width < 0.5 else 0)


def _chance(ax, rows: list[dict], level) -> None:
    """A dotted chance line over each group's bars (groups are contiguous; ``level(row)`` in %)."""
    start = 0
    first = True
    for i in range(1, len(rows) + 1):
        if i == len(rows) or group_of(rows[i]) != group_of(rows[start]):
            y = level(rows[start])
            if y is not None and not math.isnan(y):
                ax.hlines(y, start - 0.45, i - 1 + 0.45, colors="0.2", linestyles=":", linewidth=1.4,
                          label="chance" if first else None, zorder=3)
                ax.annotate(f"chance {y:.3g}", (start - 0.45, y), ha="left", va="center", fontsize=6, color="0.1",
                            xytext=(2, 0), textcoords="offset points", zorder=4,
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
                first = False
            start = i


def comparison_figure(rows: list[dict], groups: dict) -> Figure:
    """Top-1, top-5, within-pair accuracy (when the dataset has pairs) and parameters per row.

    Error bars (± sample std) only on rows with several runs; a dotted chance line on every
    accuracy panel; leaky rows hatched; the caption and any warning in the title.
    """
    pair_keys = pair_columns(rows)
    panels = ["top1", "top5"] + (["pairs"] if pair_keys else []) + ["params"]
    fig = Figure(figsize=(max(8.0, 0.9 * len(rows) * 2), 3.6 * math.ceil(len(panels) / 2) + 1.0),
                 layout="constrained")
    axes = list(fig.subplots(math.ceil(len(panels) / 2), 2, squeeze=False).flat)
    x = np.arange(len(rows))
    for ax, panel in zip(axes, panels):
        if panel in ("top1", "top5"):
            k = 1 if panel == "top1" else 5
            _bars(ax, x, rows, *bar_data(rows, panel))
            _chance(ax, rows, lambda r, k=k: 100 * min(k, r["num_classes"]) / r["num_classes"])
            ax.set(title=f"top-{k} accuracy (%)", ylim=(0, 109))
        elif panel == "pairs":
            width, shades = 0.8 / len(pair_keys), np.linspace(0.3, 0.7, len(pair_keys))
            for j, key in enumerate(pair_keys):
                values, errors = bar_data(rows, key)
                _bars(ax, x - 0.4 + width * (j + 0.5), rows, values, errors, width=width,
                      colors=[str(shades[j])] * len(rows))
            handles = [Patch(color=str(shades[j]), label=k[len("within_pair_"):] + " pairs")
                       for j, k in enumerate(pair_keys)]
            ax.legend(handles=handles, fontsize=7, loc="upper right", ncols=len(handles), framealpha=0.9)
            _chance(ax, rows, lambda r: 50.0)
            ax.set(title="within-pair accuracy (%)", ylim=(0, 125), yticks=range(0, 101, 20))
        else:
            _bars(ax, x, rows, [r["params"] / 1e6 for r in rows], [None] * len(rows), fmt="{:.2f}")
            ax.set(title="parameters (M)")
        _xticks(ax, x, rows)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    _suptitle(fig, "Model comparison", rows, groups, sep=": ")
    fig.supxlabel("Bars: mean over runs; error bars: ± sample std, only where a row has several runs; dotted: chance"
                  + ("; hatched: leaky protocol" if any(r["leaky"] for r in rows) else "") + ".\n"
                  + ("Within-pair: accuracy between two classes that differ only in temporal order or tempo. "
                     if pair_keys else "") + "Training time is in the tables only (not comparable across jobs).",
                  fontsize=8)
    return fig


def mean_history(runs: list[Run]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per history column: (epochs, mean over the runs that logged that epoch)."""
    acc: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for row in run.history:
            for key, value in row.items():
                if key != "epoch" and not math.isnan(value):
                    acc[key][row["epoch"]].append(value)
    return {k: (np.array(sorted(by)), np.array([np.mean(by[e]) for e in sorted(by)])) for k, by in acc.items()}


def selected_epoch(run: Run) -> int | None:
    """The epoch of the checkpoint the run tested: from its name (``best-epochNNN.ckpt``), else the first
    epoch with the best ``val/top1`` in the history (what ``ModelCheckpoint(mode="max")`` keeps)."""
    if match := re.search(r"epoch=?(\d+)", Path(str(run.metrics.get("checkpoint") or "")).name):
        return int(match.group(1))
    scored = [(row["val/top1"], -row["epoch"]) for row in run.history
              if not math.isnan(row.get("val/top1", math.nan))]
    return int(-max(scored)[1]) if scored else None


def _draw_curves(axes: np.ndarray, hist: dict, title: str, selected: list[int]) -> None:
    for ax, (ylabel, train, val, scale) in zip(axes, CURVES):
        for key, style, color in ((train, "-", PALETTE[0]), (val, "--", PALETTE[5])):
            if key in hist:
                epochs, values = hist[key]
                ax.plot(epochs, values * scale, style, color=color, marker="o", markersize=3,
                        label=key.split("/")[0])
        marks = sorted(set(selected))
        for i, epoch in enumerate(marks):
            ax.axvline(epoch, color="0.35", linestyle=":", linewidth=1.2, zorder=1,
                       label=None if i else f"selected epoch{'s' if len(marks) > 1 else ''} (best val top-1)")
        if val == "val/top1" and val in hist and len(selected) == 1 and selected[0] in hist[val][0]:
            epochs, values = hist[val]
            ax.plot(selected[0], values[list(epochs).index(selected[0])] * scale, "*", color=PALETTE[5],
                    markersize=11, markeredgecolor="black", zorder=4)
        ax.set(xlabel="epoch", ylabel=ylabel, title=f"{title}: {ylabel}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)


def curves_figure(items: list[tuple[str, list[Run]]]) -> Figure:
    """Curves of each item (a head and its runs), one row each; every axis scaled to its own head,
    so one head's large validation loss does not flatten the others'."""
    fig = Figure(figsize=(10, 2.8 * len(items) + 0.5), layout="constrained")
    axes = fig.subplots(len(items), 2, squeeze=False)
    for row_axes, (title, runs) in zip(axes, items):
        selected = [e for e in map(selected_epoch, runs) if e is not None]
        _draw_curves(row_axes, mean_history(runs), title if len(runs) == 1 else f"{title} (mean of {len(runs)} runs)",
                     selected)
    return fig


def summed_confusion(runs: list[Run]) -> tuple[list[str], np.ndarray, int]:
    """Confusion summed over the runs whose class list matches the first's; (classes, (C, C), runs used)."""
    usable = [r for r in runs if r.confusion is not None]
    if not usable:
        return [], np.zeros((0, 0), dtype=np.int64), 0
    classes = usable[0].classes
    same = [r for r in usable if r.classes == classes]
    return classes, np.sum([r.confusion for r in same], axis=0), len(same)


def _summed(runs: int) -> str:
    return f", sum of {runs} runs" if runs > 1 else ""


def confusion_figure(runs: list[Run], title: str) -> Figure:
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
    ax.set(xlabel="predicted", ylabel="true", title=f"{title}: confusion" + _summed(used))
    return fig


def classes_figure(runs: list[Run], title: str, k: int = 10) -> Figure:
    """Per-class accuracy: the ``k`` best and worst classes (all classes when there are at most 2k),
    with the head's mean class accuracy and chance (1 / classes) as reference lines and a legend.

    Colour says which list a bar belongs to (best / worst), never a verdict on the value: a class
    below the mean may still be well above chance, which the lines show.
    """
    names, conf, used = summed_confusion(runs)
    support = conf.sum(1)
    acc = np.divide(np.diag(conf), support, out=np.full(len(names), np.nan), where=support > 0)
    order = [i for i in np.argsort(-np.nan_to_num(acc, nan=-1), kind="stable") if support[i] > 0]
    subset = len(order) > 2 * k
    shown = order[:k] + order[-k:] if subset else order
    fig = Figure(figsize=(8, 0.32 * len(shown) + 1.8), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(shown))[::-1]
    worst = set(order[-k:]) if subset else set()
    bars = ax.barh(y, [100 * acc[i] for i in shown], color=[WORST if i in worst else BEST for i in shown])
    ax.bar_label(bars, [f"{100 * acc[i]:.1f}" for i in shown], padding=2, fontsize=7)
    ax.set_yticks(y, [f"{names[i]} (n={support[i]})" for i in shown], fontsize=8)
    handles = [Patch(color=BEST, label="best classes" if subset else "class accuracy")]
    if subset:
        handles.append(Patch(color=WORST, label="worst classes"))
    if order:
        mean = 100 * float(np.nanmean(acc[order]))
        handles.append(ax.axvline(mean, color="black", linestyle="--", linewidth=1.2,
                                  label=f"mean class accuracy {mean:.1f}"))
    if names:
        chance = 100 / len(names)
        handles.append(ax.axvline(chance, color="0.35", linestyle=":", linewidth=1.4,
                                  label=f"chance {chance:.1f} (1/{len(names)} classes)"))
    fig.legend(handles=handles, fontsize=7, loc="outside lower center", ncols=min(len(handles), 4), frameon=False)
    # Room right of 100% for the value labels; ticks stop at 100.
    ax.set(xlim=(0, 112), xticks=range(0, 101, 20), xlabel="accuracy (%)",
           title=f"{title}: {'best and worst classes' if subset else 'per-class accuracy'}" + _summed(used))
    ax.grid(axis="x", alpha=0.3)
    return fig


def write_plots(rows: list[dict], runs: list[Run], out: Path, *, groups: dict, dpi: int = DPI,
                formats: tuple[str, ...] = FORMATS, confusion_heads: list[str] | None = None) -> list[Path]:
    """Every figure of the report into ``out``; returns the files written (each figure in each format).

    ``confusion_heads``: the models that get confusion and per-class figures (default: every row).
    """
    multi = len({group_of(r) for r in rows}) > 1
    cell: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        cell[(*run.group, run.model)].append(run)
    kw = {"dpi": dpi, "formats": formats}
    written = save(comparison_figure(rows, groups), out / "comparison", **kw)
    if (order := order_figure(rows, groups)) is not None:
        written += save(order, out / "order", **kw)
    grid = []
    for row in rows:
        rs = [r for r in cell[(*group_of(row), row["model"])] if r.history]
        if rs:
            title = label(row, with_group=multi).replace("\n", " ")
            written += save(curves_figure([(title, rs)]), out / f"curves_{slug(row, with_group=multi)}", **kw)
            grid.append((title, rs))
    if grid:
        written += save(curves_figure(grid), out / "curves_grid", **kw)
    for row in rows:
        if confusion_heads is not None and row["model"] not in confusion_heads:
            continue
        rs = [r for r in cell[(*group_of(row), row["model"])] if r.confusion is not None]
        if rs:
            title = label(row, with_group=multi).replace("\n", " ")
            written += save(confusion_figure(rs, title), out / f"confusion_{slug(row, with_group=multi)}", **kw)
            written += save(classes_figure(rs, title), out / f"classes_{slug(row, with_group=multi)}", **kw)
    return written


def order_figure(rows: list[dict], groups: dict) -> Figure | None:
    """Top-1 forward vs reversed vs shuffled per row, and reversed-to-partner where the dataset has
    time-reversed pairs (``docs/order.md``); None when no row has the order diagnostics."""
    if not has_values(rows, "top1_reversed_mean"):
        return None
    partner = has_values(rows, "reversed_to_partner_mean")
    panels = 2 if partner else 1
    fig = Figure(figsize=(max(8.0, 0.9 * len(rows) + 2.0), 3.6 * panels + 1.2), layout="constrained")
    axes = list(fig.subplots(panels, 1, squeeze=False).flat)  # one above the other: room for many heads
    x = np.arange(len(rows))
    keys = (("top1", "forward", PALETTE[0]), ("top1_reversed", "frames reversed", PALETTE[5]),
            ("top1_shuffled", "frames shuffled", PALETTE[1]))
    width = 0.8 / len(keys)
    for j, (key, _, color) in enumerate(keys):
        values, errors = bar_data(rows, key)
        _bars(axes[0], x - 0.4 + width * (j + 0.5), rows, values, errors, width=width, colors=[color] * len(rows),
              fmt="{:.0f}")
    axes[0].legend(handles=[Patch(color=c, label=n) for _, n, c in keys], fontsize=7, loc="upper right",
                   ncols=len(keys), framealpha=0.9)
    _chance(axes[0], rows, lambda r: 100 / r["num_classes"] if r["num_classes"] else None)
    axes[0].set(title="top-1 accuracy (%): forward, reversed, shuffled", ylim=(0, 119), yticks=range(0, 101, 20))
    if partner:
        values, errors = bar_data(rows, "reversed_to_partner")
        _bars(axes[1], x, rows, values, errors, colors=[PALETTE[3]] * len(rows), fmt="{:.0f}")
        axes[1].set(title="reversed → partner class (%)", ylim=(0, 109))
    for ax in axes:
        _xticks(ax, x, rows)
    _suptitle(fig, "Does the head use frame order?", rows, groups, sep=" ")
    fig.supxlabel("The selected checkpoint on the same test videos, each video's valid frames in order, reversed, "
                  "or shuffled (seeded). Error bars: ± sample std, only where a row has several runs."
                  + ("\nReversed → partner: share of the time-reversed pairs' test videos that, reversed, are "
                     "predicted as the other class of their pair (an order-blind head: its forward errors only)."
                     if partner else ""), fontsize=8)
    return fig
