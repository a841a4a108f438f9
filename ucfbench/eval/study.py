"""Aggregate a sweep's runs: the results table, paired McNemar tests and probability ensembles.

Pure functions over :class:`Run` objects (what :func:`load_runs` reads from run directories);
``python -m ucfbench.report`` writes the files and ``ucfbench.eval.plots`` draws the figures.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

LEAKY_NOTE = "⚠ leaky: random split over clips"
REQUIRED = ("dataset", "split", "model", "seed", "top1", "top5", "mean_class_acc", "params")
Group = tuple[str, str, bool]  # (dataset, protocol family, leaky): the runs of one table


@dataclass
class Run:
    """One finished run: its ``metrics.json`` and, where written, its per-video results."""

    path: Path
    metrics: dict
    classes: list[str] | None = None  # column order of probs and confusion
    videos: list[str] | None = None  # predictions.csv rows, in test_probs.npy row order
    labels: list[str] | None = None
    preds: list[str] | None = None
    probs: np.ndarray | None = None  # (N, C)
    confusion: np.ndarray | None = None  # (C, C) counts, rows = true class
    history: list[dict[str, float]] = field(default_factory=list)
    name_backbone: bool = False  # set by load_runs when the runs use more than one backbone

    @property
    def backbone(self) -> str | None:
        """The frame encoder's model name (``features.model``; ``arch`` in older runs)."""
        info = self.metrics.get("features") or {}
        return info.get("model") or info.get("arch")

    @property
    def model(self) -> str:
        """The row label: the head, plus ``@ backbone`` in a sweep over backbones (one row each)."""
        name = str(self.metrics["model"])
        return f"{name} @ {self.backbone}" if self.name_backbone and self.backbone else name

    @property
    def group(self) -> Group:
        m = self.metrics
        return str(m["dataset"]), protocol_family(str(m["split"])), bool(m.get("leaky", False))

    @property
    def pair_key(self) -> tuple:
        """Runs of different models with the same key saw the same test videos."""
        m = self.metrics
        return str(m["dataset"]), str(m["split"]), bool(m.get("leaky", False)), m["seed"]


def protocol_family(split: str) -> str:
    """``fold03`` -> ``logo``, ``split2`` -> ``official``; any other split name is its own family."""
    if re.fullmatch(r"fold\d+", split):
        return "logo"
    if re.fullmatch(r"split\d+", split):
        return "official"
    return split


def _float(value: str) -> float:
    return float(value) if value not in ("", None) else math.nan


def load_run(run_dir: str | Path) -> Run:
    """Read one run directory; files other than ``metrics.json`` are optional."""
    run_dir = Path(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    missing = [k for k in REQUIRED if k not in metrics]
    if missing:
        raise ValueError(f"{run_dir / 'metrics.json'} lacks {missing}: not a finished ucfbench run; move it out of the sweep")
    run = Run(path=run_dir, metrics=metrics)
    if (f := run_dir / "confusion.csv").is_file():
        rows = list(csv.reader(f.open()))
        run.classes = rows[0][1:]
        run.confusion = np.array([[int(v) for v in r[1:]] for r in rows[1:]], dtype=np.int64)
    if (f := run_dir / "predictions.csv").is_file():
        rows = list(csv.DictReader(f.open()))
        run.videos, run.labels, run.preds = ([r[k] for r in rows] for k in ("video", "label", "pred"))
    if (f := run_dir / "test_probs.npy").is_file() and run.videos is not None:
        run.probs = np.load(f)
        if run.probs.shape[0] != len(run.videos):
            raise ValueError(f"{f}: {run.probs.shape[0]} rows but predictions.csv has {len(run.videos)} videos")
    if (f := run_dir / "history.csv").is_file():
        run.history = [{k: _float(v) for k, v in r.items()} for r in csv.DictReader(f.open())]
    return run


def load_runs(root: str | Path) -> list[Run]:
    """Every run under ``root`` (recursively): each directory holding a ``metrics.json``."""
    root = Path(root)
    paths = sorted(root.rglob("metrics.json"), key=lambda p: str(p))
    if not paths:
        raise FileNotFoundError(f"no metrics.json under {root}: point the report at a run or multirun directory")
    runs = [load_run(p.parent) for p in paths]
    if len({r.backbone for r in runs}) > 1:  # a sweep over features=: each backbone its own row
        for run in runs:
            run.name_backbone = True
    return runs


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; NaN with fewer than two values)."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else math.nan


def _within_pair_keys(runs: list[Run]) -> list[str]:
    return sorted({k for r in runs for k, v in r.metrics.items()
                   if k.startswith("within_pair_") and isinstance(v, (int, float))})


def aggregate(runs: list[Run]) -> list[dict]:
    """One row per (dataset, protocol, leaky, model), mean ± std over its seeds and folds.

    Rows are ordered by group, then by top-1 (best first). Accuracies are fractions;
    ``efficiency`` is seed 003's score, top-1 (%) per million parameters.
    """
    cells: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        cells[(*run.group, run.model)].append(run)
    pair_keys = _within_pair_keys(runs)
    rows = []
    for (dataset, protocol, leaky, model), rs in cells.items():
        row: dict = {"dataset": dataset, "protocol": protocol, "leaky": leaky, "model": model, "runs": len(rs),
                     "seeds": len({r.metrics["seed"] for r in rs}), "splits": len({r.metrics["split"] for r in rs})}
        for key in ("top1", "top5", "mean_class_acc", *pair_keys):
            row[f"{key}_mean"], row[f"{key}_std"] = _mean_std([r.metrics.get(key) for r in rs])
        row["params"] = int(round(np.mean([r.metrics["params"] for r in rs])))
        row["train_seconds_mean"], row["train_seconds_std"] = _mean_std([r.metrics.get("train_seconds") for r in rs])
        row["efficiency"] = row["top1_mean"] * 100 / (row["params"] / 1e6) if row["params"] else math.nan
        row["best_val_top1_mean"] = _mean_std([r.metrics.get("best_val_top1") for r in rs])[0]
        row["test_videos_mean"] = _mean_std([r.metrics.get("test_videos") for r in rs])[0]
        rows.append(row)
    return sorted(rows, key=lambda r: (r["dataset"], r["protocol"], r["leaky"], -r["top1_mean"], r["model"]))


def duplicate_runs(runs: list[Run]) -> dict[tuple, int]:
    """(model, dataset, split, leaky, seed) seen more than once: the sweep varied something else."""
    counts: dict[tuple, int] = defaultdict(int)
    for run in runs:
        counts[(run.model, *run.pair_key)] += 1
    return {k: n for k, n in counts.items() if n > 1}


def _align(ref: Run, other: Run) -> np.ndarray:
    """Row indices of ``other`` that put its videos in ``ref``'s order."""
    if other.videos == ref.videos:
        return np.arange(len(ref.videos))
    index = {v: i for i, v in enumerate(other.videos)}
    if len(index) != len(other.videos) or set(index) != set(ref.videos):
        raise ValueError(f"{ref.path} and {other.path} were tested on different videos (predictions.csv); "
                         "ensembles need runs of the same dataset, split and skipped videos")
    return np.array([index[v] for v in ref.videos])


def ensemble(runs: list[Run], members: list[str]) -> list[Run]:
    """Average the test probabilities of ``members``' runs per (dataset, split, leaky, seed).

    Returns one run per key where every member has exactly one run with ``test_probs.npy``,
    evaluated like any other (params and training time are the members' sums).
    """
    import torch  # torch and torchmetrics only when ensembling: they dominate the report's start-up

    from ucfbench.eval.metrics import summary_metrics, within_pair_accuracy

    name = f"ensemble({'+'.join(members)})"
    by_key: dict[tuple, dict[str, list[Run]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        if run.model in members and run.probs is not None:
            by_key[run.pair_key][run.model].append(run)
    out = []
    for per_model in by_key.values():
        if set(per_model) != set(members) or any(len(v) != 1 for v in per_model.values()):
            continue
        parts = [per_model[m][0] for m in members]
        ref = parts[0]
        for p in parts[1:]:
            if p.classes != ref.classes:
                raise ValueError(f"{ref.path} and {p.path} have different class lists (confusion.csv)")
        probs = np.mean([p.probs[_align(ref, p)] for p in parts], axis=0)  # (N, C)
        labels = torch.tensor([ref.classes.index(y) for y in ref.labels])
        pairs = [{"classes": k.split("/"), "kind": v["kind"]} for k, v in ref.metrics.get("within_pair", {}).items()]
        metrics = {k: ref.metrics[k] for k in ("dataset", "split", "leaky", "seed") if k in ref.metrics}
        metrics.update(model=name, **summary_metrics(torch.from_numpy(probs), labels), test_videos=len(labels),
                       params=sum(p.metrics["params"] for p in parts),
                       train_seconds=sum(p.metrics.get("train_seconds") or 0.0 for p in parts))
        pair_acc = within_pair_accuracy(torch.from_numpy(probs), labels, ref.classes, pairs)
        for kind in sorted({p["kind"] for p in pair_acc.values()}):
            metrics[f"within_pair_{kind}"] = float(np.mean([p["acc"] for p in pair_acc.values() if p["kind"] == kind]))
        pred = probs.argmax(1)
        confusion = np.zeros((len(ref.classes),) * 2, dtype=np.int64)
        np.add.at(confusion, (labels.numpy(), pred), 1)
        out.append(Run(path=ref.path.parent / name, metrics=metrics, classes=ref.classes, videos=ref.videos,
                       labels=ref.labels, preds=[ref.classes[i] for i in pred], probs=probs, confusion=confusion))
    if not out:
        present = sorted({r.model for r in runs})
        raise ValueError(f"ensemble {','.join(members)}: no (dataset, split, seed) has one run with test_probs.npy "
                         f"of each; models present: {present}")
    return out


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: ``min(b, c)`` under Binomial(b + c, 1/2), doubled."""
    n, k = b + c, min(b, c)
    term, tail = 1, 0  # term = C(n, i), exact integers
    for i in range(k + 1):
        tail += term
        term = term * (n - i) // (i + 1)
    return min(1.0, 2 * tail / 2**n)


def holm(pvalues: list[float]) -> list[float]:
    """Holm step-down adjusted p-values (family-wise error over the list)."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted, running = [1.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def paired_tests(runs: list[Run], rows: list[dict], *, alpha: float = 0.05) -> list[dict]:
    """McNemar's exact test for every pair of models of a group, pooled over their shared runs.

    Runs pair when they share dataset, split, leaky and seed; videos pair by their path in
    ``predictions.csv``. ``diff`` is top-1(a) - top-1(b) in points on the paired videos, ``a_only``
    / ``b_only`` the discordant counts; Holm's correction runs over the pairs of each group.
    """
    cell: dict[tuple, dict[tuple, list[Run]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        if run.videos is not None:
            cell[(run.group, run.model)][run.pair_key].append(run)
    tests = []
    for group in dict.fromkeys((r["dataset"], r["protocol"], r["leaky"]) for r in rows):
        models = [r["model"] for r in rows if (r["dataset"], r["protocol"], r["leaky"]) == group]
        found = []
        for a, b in combinations(models, 2):
            ka, kb = cell[(group, a)], cell[(group, b)]
            shared = [k for k in ka if k in kb and len(ka[k]) == len(kb[k]) == 1]
            if not shared:
                continue
            n = right_a = right_b = a_only = b_only = 0
            for key in shared:
                ra, rb = ka[key][0], kb[key][0]
                ca = {v: y == p for v, y, p in zip(ra.videos, ra.labels, ra.preds)}
                cb = {v: y == p for v, y, p in zip(rb.videos, rb.labels, rb.preds)}
                for v in ca.keys() & cb.keys():
                    n += 1
                    right_a += ca[v]
                    right_b += cb[v]
                    a_only += ca[v] and not cb[v]
                    b_only += cb[v] and not ca[v]
            p = mcnemar_exact(a_only, b_only)
            found.append({"dataset": group[0], "protocol": group[1], "leaky": group[2], "model_a": a, "model_b": b,
                          "runs": len(shared), "videos": n, "top1_a": right_a / n if n else math.nan,
                          "top1_b": right_b / n if n else math.nan, "diff": 100 * (right_a - right_b) / n if n else math.nan,
                          "a_only": a_only, "b_only": b_only, "p_value": p, "significant": p < alpha})
        for test, adjusted in zip(found, holm([t["p_value"] for t in found])):
            test.update(p_holm=adjusted, significant_holm=adjusted < alpha)
        tests += found
    return tests


def _pct(mean: float, std: float = math.nan) -> str:
    if math.isnan(mean):
        return "–"
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if not math.isnan(std) else "")


def _md(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in body]


def markdown_table(rows: list[dict]) -> str:
    """The rows of one group as a markdown table (percentages; leaky rows marked)."""
    pairs = [k[:-5] for k in rows[0] if k.startswith("within_pair_") and k.endswith("_mean")
             and any(not math.isnan(r[k]) for r in rows)]
    header = ["model", "runs", "top-1 (%)", "top-5 (%)", "mean class acc (%)",
              *[f"within-pair {k[len('within_pair_'):]} (%)" for k in pairs],
              "params (M)", "train time (s)", "efficiency (top-1 %/M)"]
    body = []
    for r in rows:
        time = "–" if math.isnan(r["train_seconds_mean"]) else f"{r['train_seconds_mean']:.1f}" + (
            "" if math.isnan(r["train_seconds_std"]) else f" ± {r['train_seconds_std']:.1f}")
        body.append([r["model"] + (f" {LEAKY_NOTE}" if r["leaky"] else ""), str(r["runs"]),
                     _pct(r["top1_mean"], r["top1_std"]), _pct(r["top5_mean"], r["top5_std"]),
                     _pct(r["mean_class_acc_mean"], r["mean_class_acc_std"]),
                     *[_pct(r[f"{k}_mean"], r[f"{k}_std"]) for k in pairs],
                     f"{r['params'] / 1e6:.2f}", time, f"{r['efficiency']:.2f}"])
    return "\n".join(_md(header, body))


def markdown_tests(tests: list[dict], alpha: float = 0.05) -> str:
    """McNemar results of one group as a markdown table."""
    header = ["a vs b", "paired runs", "videos", "top-1 a − b (points)", "a only / b only", "p", "p (Holm)",
              f"significant at {alpha}"]
    body = [[f"{t['model_a']} vs {t['model_b']}", str(t["runs"]), str(t["videos"]), f"{t['diff']:+.2f}",
             f"{t['a_only']} / {t['b_only']}", f"{t['p_value']:.4g}", f"{t['p_holm']:.4g}",
             ("yes" if t["significant_holm"] else "no") + ("" if t["significant"] == t["significant_holm"]
                                                            else " (yes before Holm)")]
            for t in tests]
    return "\n".join(_md(header, body))


def render_markdown(runs: list[Run], rows: list[dict], tests: list[dict], *, source: str,
                    plots: list[str], notes: list[str], alpha: float = 0.05) -> str:
    """The whole ``report.md``: one section per (dataset, protocol, leaky), tests, plots, notes."""
    lines = [f"# Report: `{source}`", "",
             f"{len(runs)} runs, {len({r['model'] for r in rows})} models. Mean ± sample std over seeds and "
             "folds/splits of a protocol; accuracies on the test split.", ""]
    for group in dict.fromkeys((r["dataset"], r["protocol"], r["leaky"]) for r in rows):
        group_rows = [r for r in rows if (r["dataset"], r["protocol"], r["leaky"]) == group]
        splits = sorted({str(r.metrics["split"]) for r in runs if r.group == group})
        shown = ", ".join(splits) if len(splits) <= 3 else f"{splits[0]} … {splits[-1]}, {len(splits)} splits"
        lines += [f"## {group[0]} · {group[1]} ({shown})" + (f" — {LEAKY_NOTE}" if group[2] else ""), "",
                  markdown_table(group_rows), ""]
        group_tests = [t for t in tests if (t["dataset"], t["protocol"], t["leaky"]) == group]
        if group_tests:
            lines += ["Paired McNemar exact tests (same test videos, runs paired by split and seed, pooled; "
                      "Holm-corrected over the pairs of this table):", "", markdown_tests(group_tests, alpha), ""]
        elif len(group_rows) > 1:
            lines += ["No pair of models shares a run (split and seed) with predictions.csv: no paired test.", ""]
    if plots:
        lines += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)
