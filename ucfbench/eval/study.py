"""Aggregate a sweep's runs: the results table, confidence intervals, paired McNemar tests, ensembles.

Pure functions over :class:`Run` objects (what :func:`load_runs` reads from run directories);
``ucfbench report`` writes the files, ``ucfbench.eval.tables`` renders the markdown and
LaTeX tables and ``ucfbench.eval.plots`` draws the figures.
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import combinations

import numpy as np

from ucfbench.eval.order import ORDER_KEYS
from ucfbench.eval.published import published
from ucfbench.eval.run_dir import Group, Run, group_of, is_debug

LEAKY_NOTE = "⚠ leaky: random split over clips"
TINY_TEST_VIDEOS = 50  # fewer test videos per run than this: a debug-sized run, not a result
BOOTSTRAP_SAMPLES = 10_000
BOOTSTRAP_SEED = 0
CI_T = "t_over_runs"  # ci_method values in report.csv
CI_BOOTSTRAP = "bootstrap_over_videos"
# Student t quantile t(0.975, df) for df = 1..30 (above 30, a Cornish-Fisher expansion in 1/df).
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788,
         2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
         2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)
def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; NaN with fewer than two values)."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else math.nan


def _within_pair_keys(runs: list[Run]) -> list[str]:
    return sorted({k for r in runs for k, v in r.metrics.items()
                   if k.startswith("within_pair_") and isinstance(v, (int, float))})


def t_quantile_975(df: int) -> float:
    """Student t's 97.5th percentile with ``df`` degrees of freedom (two-sided 95%)."""
    if df < 1:
        raise ValueError(f"t quantile needs df >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2) \
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)


def t_interval(values: list[float]) -> tuple[float, float]:
    """95% t-interval of the mean of ``values`` (at least two), clipped to [0, 1]."""
    arr = np.asarray(values, dtype=float)
    half = t_quantile_975(arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size)
    return max(0.0, float(arr.mean() - half)), min(1.0, float(arr.mean() + half))


def bootstrap_accuracy(right: int, n: int, *, samples: int = BOOTSTRAP_SAMPLES,
                       seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95% percentile bootstrap of an accuracy over its ``n`` test videos (``right`` correct).

    Resampling n per-video 0/1 outcomes with replacement and taking the mean is exactly a
    Binomial(n, right/n) draw over n, so that is what is drawn (any n, constant memory);
    seeded, so the same inputs give the same interval.
    """
    draws = np.random.default_rng(seed).binomial(n, right / n, size=samples) / n
    low, high = np.quantile(draws, [0.025, 0.975])
    return float(low), float(high)


def accuracy_ci(rs: list[Run], key: str = "top1") -> tuple[float, float, str]:
    """(low, high, method) of a row's accuracy ``key`` (``top1``, ``top1_reversed``, ...): t over its
    runs when it has several, else a bootstrap over the one run's test videos; NaN and ``""`` when
    neither is possible."""
    holders = [r for r in rs if r.metrics.get(key) is not None]
    if len(holders) > 1:
        return (*t_interval([float(r.metrics[key]) for r in holders]), CI_T)
    counts = holders[0].correct_count(key) if holders else None
    if counts and counts[1]:
        return (*bootstrap_accuracy(*counts), CI_BOOTSTRAP)
    return math.nan, math.nan, ""


def order_columns(rs: list[Run]) -> dict:
    """A row's order diagnostics (``docs/order.md``): mean ± std of each over the runs, 95% CIs of
    top-1 reversed / shuffled (as top-1's), and the published top-1 of the row's protocol, if any."""
    row: dict = {}
    for key in ORDER_KEYS:
        row[f"{key}_mean"], row[f"{key}_std"] = _mean_std([r.metrics.get(key) for r in rs])
    for key in ("top1_reversed", "top1_shuffled"):
        row[f"{key}_ci95_low"], row[f"{key}_ci95_high"] = accuracy_ci(rs, key)[:2]
    found = {published(r) for r in rs} - {None}
    row["published_top1"], row["published_source"] = found.pop() if len(found) == 1 else (math.nan, "")
    return row


def has_values(rows: list[dict], column: str) -> bool:
    """Some row holds a number (not NaN) in ``column`` (``top1_reversed_mean``, ``published_top1``, ...)."""
    return any(not math.isnan(r.get(column, math.nan)) for r in rows)


def pair_columns(rows: list[dict]) -> list[str]:
    """``within_pair_<kind>`` keys with a value in some row (the synthetic set's class pairs)."""
    return [k[:-5] for k in rows[0] if k.startswith("within_pair_") and k.endswith("_mean") and has_values(rows, k)]


def aggregate(runs: list[Run]) -> list[dict]:
    """One row per (dataset, protocol, leaky, model), mean ± std over its seeds and folds.

    Rows are ordered by group, then by top-1 (best first). Accuracies are fractions. ``top1_ci95_*``
    come from :func:`accuracy_ci` (``ci_method`` says which); ``top1_chance_corrected`` is
    (top-1 − chance) / (1 − chance) with chance = 1 / classes. No accuracy-per-parameter score:
    docs/report.md says why.
    """
    cells: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        cells[(*run.group, run.model)].append(run)
    pair_keys = _within_pair_keys(runs)
    rows = []
    for (dataset, protocol, leaky, model), rs in cells.items():
        row: dict = {"dataset": dataset, "protocol": protocol, "leaky": leaky, "model": model, "runs": len(rs),
                     "seeds": len({r.metrics["seed"] for r in rs}), "splits": len({r.split_id for r in rs})}
        for key in ("top1", "top5", "mean_class_acc", *pair_keys):
            row[f"{key}_mean"], row[f"{key}_std"] = _mean_std([r.metrics.get(key) for r in rs])
        row["top1_ci95_low"], row["top1_ci95_high"], row["ci_method"] = accuracy_ci(rs)
        row.update(order_columns(rs))
        classes = [r.num_classes for r in rs if r.num_classes]
        row["num_classes"] = classes[0] if classes else math.nan
        row["chance"] = 1 / row["num_classes"] if classes and row["num_classes"] > 1 else math.nan
        row["top1_chance_corrected_mean"] = (row["top1_mean"] - row["chance"]) / (1 - row["chance"])
        row["params"] = int(round(np.mean([r.metrics["params"] for r in rs])))
        row["train_seconds_mean"], row["train_seconds_std"] = _mean_std([r.metrics.get("train_seconds") for r in rs])
        row["best_val_top1_mean"] = _mean_std([r.metrics.get("best_val_top1") for r in rs])[0]
        row["test_videos_mean"] = _mean_std([r.metrics.get("test_videos") for r in rs])[0]
        rows.append(row)
    return sorted(rows, key=lambda r: (*group_of(r), -r["top1_mean"], r["model"]))


def describe_groups(runs: list[Run]) -> dict[Group, dict]:
    """Per (dataset, protocol, leaky): its splits, classes, test videos, a caption line and warnings.

    A group warns when it is leaky, when a run has fewer than ``TINY_TEST_VIDEOS`` test videos, or
    when a run was made with a ``debug=`` option.
    """
    by_group: dict[Group, list[Run]] = defaultdict(list)
    for run in runs:
        by_group[run.group].append(run)
    out = {}
    for group, rs in by_group.items():
        dataset, protocol, leaky = group
        splits = sorted({r.split_id for r in rs})
        classes = sorted({r.num_classes for r in rs if r.num_classes})
        videos = sorted({int(r.metrics["test_videos"]) for r in rs if r.metrics.get("test_videos") is not None})
        shown = ", ".join(splits) if len(splits) <= 3 else f"{splits[0]} … {splits[-1]}, {len(splits)} splits"
        n_classes = "/".join(map(str, classes)) if classes else "?"
        per = "" if len(splits) == 1 else " per split"
        n_videos = ("?" if not videos else str(videos[0]) if len(videos) == 1
                    else f"{videos[0]}–{videos[-1]}") + f" test videos{per}"
        seeds = len({r.metrics["seed"] for r in rs})
        caption = (f"{dataset} · protocol {protocol} ({shown}) · {n_classes} classes · {n_videos} · "
                   f"{seeds} seed{'s' if seeds > 1 else ''}")
        warnings, flags = [], []  # sentences for report.md, a few words for figure titles
        if leaky:
            flags.append("leaky split")
            warnings.append(f"{LEAKY_NOTE}: clips of one group (scene, actor) are on both sides of the split, "
                            "which inflates accuracy; compare these rows only with each other")
        if videos and videos[0] < TINY_TEST_VIDEOS:
            flags.append(f"tiny test set ({videos[0]} videos)")
            warnings.append(f"⚠ tiny test set: {videos[0]} test videos per run (under {TINY_TEST_VIDEOS}); "
                            "one video moves top-1 by " + f"{100 / videos[0]:.1f} points: not a result to quote")
        if any(is_debug(r) for r in rs):
            flags.append("debug run")
            warnings.append("⚠ debug run (made with a debug= option): a smoke test, not a result")
        out[group] = {"dataset": dataset, "protocol": protocol, "leaky": leaky, "splits": splits, "shown": shown,
                      "num_classes": classes, "test_videos": videos, "seeds": seeds, "caption": caption,
                      "warnings": warnings, "flags": flags}
    return out


def duplicate_runs(runs: list[Run]) -> dict[tuple, int]:
    """(model, dataset, protocol, split, leaky, seed) seen more than once: the sweep varied something else."""
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

    from ucfbench.eval.metrics import confusion_matrix, summary_metrics, within_pair_metrics

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
        metrics = {k: ref.metrics[k] for k in ("dataset", "protocol", "split", "fold", "leaky", "seed")
                   if k in ref.metrics}
        metrics.update(model=name, **summary_metrics(torch.from_numpy(probs), labels), test_videos=len(labels),
                       num_classes=len(ref.classes),
                       params=sum(p.metrics["params"] for p in parts),
                       train_seconds=sum(p.metrics.get("train_seconds") or 0.0 for p in parts),
                       **within_pair_metrics(torch.from_numpy(probs), labels, ref.classes, pairs))
        out.append(Run(path=ref.path.parent / name, metrics=metrics, classes=ref.classes, videos=ref.videos,
                       labels=ref.labels, preds=[ref.classes[i] for i in probs.argmax(1)], probs=probs,
                       confusion=confusion_matrix(torch.from_numpy(probs), labels).numpy()))
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
    for group in dict.fromkeys(group_of(r) for r in rows):
        models = [r["model"] for r in rows if group_of(r) == group]
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
