"""The report's tables as text: markdown (``report.md``) and LaTeX with booktabs (``report.tex``).

Pure functions over the rows of :func:`ucfbench.eval.study.aggregate`, the paired tests and the
group descriptions of :func:`ucfbench.eval.study.describe_groups`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from ucfbench.eval.run_dir import Run, group_of
from ucfbench.eval.study import (
    BOOTSTRAP_SAMPLES,
    BOOTSTRAP_SEED,
    CI_BOOTSTRAP,
    CI_T,
    LEAKY_NOTE,
    has_values,
    pair_columns,
)

TIME_NOTE = ("training wall time on whatever machine ran the job, with whatever else it was running: it ranks "
             "nothing unless every run had the same idle hardware, so no figure plots it")


SINGLE_SEED_NOTE = ("One seed: the 95% CIs and McNemar's test measure how much these numbers would move on "
                    "other test videos for these trained runs; they do not cover seed-to-seed variation "
                    "(initialisation, data order), which one seed cannot measure. Run several seeds "
                    "(`seed=0,1,2`) before ranking heads")


def single_seed(info: dict, rows: list[dict]) -> bool:
    """Whether a group compares several rows on one seed, so its tests say nothing about seeds."""
    return info.get("seeds") == 1 and len(rows) > 1


def _pct(row: dict, key: str, *, tex: bool = False) -> str:
    """A row's ``<key>_mean`` ± ``<key>_std`` (``key`` itself where it has no mean) in percent, two
    decimals (LaTeX: one); a dash where there is none."""
    mean, std = row.get(f"{key}_mean", row.get(key, math.nan)), row.get(f"{key}_std", math.nan)
    if math.isnan(mean):
        return "--" if tex else "–"
    digits, pm = (1, r" $\pm$ ") if tex else (2, " ± ")
    return f"{100 * mean:.{digits}f}" + (f"{pm}{100 * std:.{digits}f}" if not math.isnan(std) else "")


def _ci(row: dict, key: str = "top1", sep: str = "–") -> str:
    """The 95% CI of ``key`` in percent, or a dash where there is none."""
    low, high = row.get(f"{key}_ci95_low", math.nan), row.get(f"{key}_ci95_high", math.nan)
    return "–" if math.isnan(low) else f"{100 * low:.1f}{sep}{100 * high:.1f}"


def _md(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in body]


def markdown_table(rows: list[dict]) -> str:
    """The rows of one group as a markdown table (percentages; leaky rows marked)."""
    pairs = pair_columns(rows)
    header = ["model", "runs", "top-1 (%)", "top-1 95% CI", "top-5 (%)", "mean class acc (%)",
              *[f"within-pair {k[len('within_pair_'):]} (%)" for k in pairs],
              "params (M)", "train time (s)¹"]
    body = []
    for r in rows:
        time = "–" if math.isnan(r["train_seconds_mean"]) else f"{r['train_seconds_mean']:.1f}" + (
            "" if math.isnan(r["train_seconds_std"]) else f" ± {r['train_seconds_std']:.1f}")
        body.append([r["model"] + (f" {LEAKY_NOTE}" if r["leaky"] else ""), str(r["runs"]),
                     _pct(r, "top1"), _ci(r), _pct(r, "top5"), _pct(r, "mean_class_acc"), *[_pct(r, k) for k in pairs],
                     f"{r['params'] / 1e6:.2f}", time])
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


def ci_sentence(rows: list[dict]) -> str:
    """Which interval each row's ``top1_ci95`` is, in words."""
    by = {m: [r["model"] for r in rows if r["ci_method"] == m] for m in (CI_T, CI_BOOTSTRAP, "")}
    parts = []
    if by[CI_T]:
        parts.append("a Student-t interval of the mean over the row's runs (seeds and splits as samples) for "
                     + ("every row" if len(by[CI_T]) == len(rows) else ", ".join(f"`{m}`" for m in by[CI_T])))
    if by[CI_BOOTSTRAP]:
        parts.append(f"a percentile bootstrap over the test videos of the row's one run ({BOOTSTRAP_SAMPLES:,} "
                     f"resamples, seed {BOOTSTRAP_SEED}) for "
                     + ("every row" if len(by[CI_BOOTSTRAP]) == len(rows)
                        else ", ".join(f"`{m}`" for m in by[CI_BOOTSTRAP])))
    if by[""]:
        parts.append("none for " + ", ".join(f"`{m}`" for m in by[""]) + " (one run without test counts)")
    return "95% CI of top-1 (`ci_method` in report.csv): " + "; ".join(parts) + "."


def chance_sentence(rows: list[dict]) -> str:
    chances = sorted({r["chance"] for r in rows if not math.isnan(r["chance"])})
    text = "Chance: " + ", ".join(f"{100 * c:.1f}% top-1 (1/{round(1 / c)} classes)" for c in chances) if chances \
        else "Chance: unknown (no class count)"
    if pair_columns(rows):
        text += "; 50% within a pair"
    return text + "."


def render_markdown(runs: list[Run], rows: list[dict], tests: list[dict], *, source: str, groups: dict,
                    plots: list[str], notes: list[str], alpha: float = 0.05, formats: tuple[str, ...] = ()) -> str:
    """The whole ``report.md``: warnings, one section per (dataset, protocol, leaky), tests, plots, notes."""
    lines = [f"# Report: `{source}`", ""]
    warned = [(g, w) for g, info in groups.items() for w in info["warnings"]]
    if warned:
        lines += ["> **Read with care.**"] + [f"> - {g[0]} · {g[1]}: {w}" for g, w in warned] + [""]
    lines += [f"{len(runs)} runs, {len({r['model'] for r in rows})} models. Mean ± sample std over seeds and "
              "folds/splits of a protocol (no ± for one run); accuracies on the test split.", ""]
    for group in dict.fromkeys(group_of(r) for r in rows):
        group_rows = [r for r in rows if group_of(r) == group]
        info = groups[group]
        lines += [f"## {group[0]} · {group[1]} ({info['shown']})" + (f" — {LEAKY_NOTE}" if group[2] else ""), "",
                  f"*{info['caption']}*", ""]
        lines += [f"> {w}" for w in info["warnings"]] + ([""] if info["warnings"] else [])
        lines += [markdown_table(group_rows), "", ci_sentence(group_rows), chance_sentence(group_rows),
                  f"¹ {TIME_NOTE[0].upper()}{TIME_NOTE[1:]}.", ""]
        lines += markdown_order(group_rows)
        group_tests = [t for t in tests if group_of(t) == group]
        if group_tests:
            lines += ["Paired McNemar exact tests (same test videos, runs paired by split and seed, pooled; "
                      "Holm-corrected over the pairs of this table):", "", markdown_tests(group_tests, alpha), ""]
        elif len(group_rows) > 1:
            lines += ["No pair of models shares a run (split and seed) with predictions.csv: no paired test.", ""]
        if single_seed(info, group_rows):
            lines += [f"> {SINGLE_SEED_NOTE}.", ""]
    if plots:
        other = [f for f in formats if f != "png"]
        lines += ["## Plots", ""]
        if other:
            lines += [f"Each figure also as {' and '.join(f.upper() for f in other)} beside the PNG (same name); "
                      "`report.tex` holds the tables for LaTeX (booktabs).", ""]
        lines += [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "–": "--", "—": "---", "…": r"\ldots{}",
        "±": r"$\pm$", "·": ",", "⚠": "", "−": "$-$"}


def tex_escape(text: str) -> str:
    """``text`` safe inside LaTeX (special characters escaped, a few Unicode signs spelt out)."""
    return "".join(_TEX.get(ch, ch) for ch in str(text)).strip()


def latex_table(rows: list[dict], info: dict) -> str:
    """One group's rows as a booktabs ``table``: top-1 (mean ± std where several runs), its 95% CI,
    top-5, mean class accuracy, within-pair accuracies, parameters; the best top-1 in bold."""
    pairs = pair_columns(rows)
    header = ["Model", "Runs", r"Top-1 (\%)", r"95\% CI", r"Top-5 (\%)", r"Mean class (\%)",
              *[rf"Within-pair {tex_escape(k[len('within_pair_'):])} (\%)" for k in pairs], "Params (M)"]
    best = max(r["top1_mean"] for r in rows)
    body = []
    for r in rows:
        top1 = _pct(r, "top1", tex=True)
        body.append([r"\texttt{" + tex_escape(r["model"]) + "}", str(r["runs"]),
                     rf"\textbf{{{top1}}}" if r["top1_mean"] == best and len(rows) > 1 else top1,
                     "--" if math.isnan(r["top1_ci95_low"]) else f"[{_ci(r, sep=', ')}]",
                     _pct(r, "top5", tex=True), _pct(r, "mean_class_acc", tex=True),
                     *[_pct(r, k, tex=True) for k in pairs], f"{r['params'] / 1e6:.2f}"])
    methods = {r["ci_method"] for r in rows}
    ci = {CI_T: "a Student-t interval over the runs", CI_BOOTSTRAP: "a percentile bootstrap over the test videos "
          f"({BOOTSTRAP_SAMPLES} resamples)"}
    ci_text = " or ".join(ci[m] for m in (CI_T, CI_BOOTSTRAP) if m in methods) or "not available"
    if methods >= {CI_T, CI_BOOTSTRAP}:
        ci_text += " (several runs / one run)"
    chance = sorted({r["chance"] for r in rows if not math.isnan(r["chance"])})
    caption = (f"{tex_escape(info['caption'].replace(' · ', ', '))}. Accuracies in \\%, mean $\\pm$ sample std over runs where a row has "
               f"several; 95\\% CI of top-1: {ci_text}."
               + (f" Chance: {', '.join(f'{100 * c:.1f}' for c in chance)}\\% top-1" if chance else "")
               + ("; 50\\% within a pair." if pairs and chance else "." if chance else "")
               + (f" {tex_escape(SINGLE_SEED_NOTE.replace('`', ''))}." if single_seed(info, rows) else "")
               + "".join(rf" \textbf{{Warning:}} {tex_escape(w)}." for w in info["warnings"]))
    label = "tab:" + re.sub(r"[^A-Za-z0-9]+", "-", "-".join(map(str, info_key(info)))).strip("-")
    return _latex_table(caption, label, header, body)


def info_key(info: dict) -> tuple:
    return info["dataset"], info["protocol"], *(("leaky",) if info["leaky"] else ())


def render_latex(rows: list[dict], groups: dict, *, source: str) -> str:
    """The whole ``report.tex``: one booktabs table per (dataset, protocol, leaky)."""
    parts = [f"% ucfbench report on {source}", r"% \usepackage{booktabs} in the preamble; \input{report.tex}", ""]
    for group in dict.fromkeys(group_of(r) for r in rows):
        group_rows = [r for r in rows if group_of(r) == group]
        parts += [latex_table(group_rows, groups[group]), ""]
        order = latex_order_table(group_rows, groups[group])
        parts += [order, ""] if order else []
    return "\n".join(parts)


# -- order diagnostics and published references (docs/order.md) ----------------------------
def markdown_order(rows: list[dict]) -> list[str]:
    """Lines of ``report.md`` for one group: the order table (if measured) and the published numbers (if any)."""
    lines: list[str] = []
    if has_values(rows, "top1_reversed_mean"):
        partner = has_values(rows, "reversed_to_partner_mean")
        header = ["model", "top-1 (%)", "top-1 reversed (%)", "reversed 95% CI", "top-1 shuffled (%)",
                  "shuffled 95% CI", "flip rate reversed (%)", *(["reversed → partner (%)"] if partner else [])]
        body = [[r["model"], _pct(r, "top1"), _pct(r, "top1_reversed"), _ci(r, "top1_reversed"),
                 _pct(r, "top1_shuffled"), _ci(r, "top1_shuffled"), _pct(r, "reversal_flip_rate"),
                 *([_pct(r, "reversed_to_partner")] if partner else [])]
                for r in rows]
        lines += ["Order diagnostics (the selected checkpoint on the same test videos, each video's valid frames "
                  "reversed / shuffled; docs/order.md):", "", *_md(header, body), "",
                  "An order-blind head keeps its top-1 and flips nothing; a head that reads time loses accuracy "
                  "reversed" + (" and, on time-reversed class pairs, names the partner class." if partner else "."),
                  ""]
    cited = [r for r in rows if not math.isnan(r.get("published_top1", math.nan))]
    if cited:
        lines += ["Published results of the same protocol (dataset, backbone, probe, frames), beside this run's:", "",
                  *_md(["model", "top-1 here (%)", "published top-1 (%)", "source"],
                       [[r["model"], _pct(r, "top1"), f"{100 * r['published_top1']:.1f}",
                         r["published_source"]] for r in cited]), ""]
    return lines


def latex_order_table(rows: list[dict], info: dict) -> str:
    """One group's order diagnostics (and published top-1, where known) as a booktabs ``table``; "" if none."""
    if not has_values(rows, "top1_reversed_mean"):
        return ""
    partner = has_values(rows, "reversed_to_partner_mean")
    cited = has_values(rows, "published_top1")
    header = ["Model", r"Top-1 (\%)", r"Reversed (\%)", r"95\% CI", r"Shuffled (\%)", r"95\% CI", r"Flip (\%)",
              *([r"Rev.\ $\to$ partner (\%)"] if partner else []), *([r"Published (\%)"] if cited else [])]
    body = [[r"\texttt{" + tex_escape(r["model"]) + "}", _pct(r, "top1", tex=True),
             _pct(r, "top1_reversed", tex=True), f"[{_ci(r, 'top1_reversed', ', ')}]",
             _pct(r, "top1_shuffled", tex=True), f"[{_ci(r, 'top1_shuffled', ', ')}]",
             _pct(r, "reversal_flip_rate", tex=True), *([_pct(r, "reversed_to_partner", tex=True)] if partner else []),
             *([_pct(r, "published_top1", tex=True)] if cited else [])]
            for r in rows]
    caption = (f"Order diagnostics, {tex_escape(info['caption'].replace(' · ', ', '))}: top-1 of the selected "
               "checkpoint with each test video's valid frames reversed or shuffled (seeded), and the share of "
               "videos whose prediction changes when reversed"
               + ("; reversed $\\to$ partner: share of the time-reversed pairs' videos predicted, reversed, as "
                  "the partner class" if partner else "")
               + ("; published: the top-1 reported for the same dataset, backbone, probe and frames" if cited else "")
               + ".")
    label = "tab:order-" + re.sub(r"[^A-Za-z0-9]+", "-", "-".join(map(str, info_key(info)))).strip("-")
    return _latex_table(caption, label, header, body)


def _latex_table(caption: str, label: str, header: list[str], body: list[list[str]]) -> str:
    """A booktabs ``table`` float: the first column left-aligned, the others right-aligned."""
    lines = [r"\begin{table}[htbp]", r"  \centering", f"  \\caption{{{caption}}}", f"  \\label{{{label}}}",
             f"  \\begin{{tabular}}{{l{'r' * (len(header) - 1)}}}", r"    \toprule",
             "    " + " & ".join(header) + r" \\", r"    \midrule"]
    lines += ["    " + " & ".join(cells) + r" \\" for cells in body]
    lines += [r"    \bottomrule", r"  \end{tabular}", r"\end{table}"]
    return "\n".join(lines)
