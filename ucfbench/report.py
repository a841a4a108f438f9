"""Report on a sweep: ``ucfbench report <multirun dir> [out=DIR] [ensemble=gru,lstm ...]``.

Reads every ``metrics.json`` under the directory (recursively) and writes ``report.md``,
``report.csv`` (with 95% confidence intervals of top-1), ``report.tex`` (booktabs tables),
``significance.csv`` and the figures (PNG, PDF and SVG) into it (or ``out=``).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import shlex
import sys
from pathlib import Path

from ucfbench.cli.args import Command, Key, to_bool, to_number
from ucfbench.utils.errors import EXIT_USAGE, UsageError, print_error

# ucfbench.eval (numpy, OmegaConf; matplotlib for the figures) is imported in write_report, after the
# arguments are parsed: --help and a mistake in them answer at once

log = logging.getLogger("ucfbench")
FORMATS = ("png", "pdf", "svg")
DPI = 150


def _csv(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return buf.getvalue()


def _names(spec: str | list[str] | None) -> list[str] | None:
    if spec is None or isinstance(spec, list):
        return spec
    return [m.strip() for m in spec.split(",") if m.strip()]


def write_report(root: str | Path, out: str | Path | None = None, *, ensembles: list[str] = (),
                 alpha: float = 0.05, plots: bool = True, dpi: int = DPI, formats: tuple[str, ...] = FORMATS,
                 confusion: str | list[str] | None = None) -> dict:
    """Aggregate the runs under ``root`` and write the report files into ``out`` (default ``root``).

    Args:
        root: a run or multirun directory (searched recursively for ``metrics.json``).
        out: where to write; created if missing.
        ensembles: comma-separated model lists, e.g. ``["gru,lstm"]``; each adds a row
            ``ensemble(gru+lstm)`` averaging those models' test probabilities per split and seed.
        alpha: significance level of the paired tests.
        plots: draw the figures.
        dpi: resolution of the PNGs (and of raster parts of PDF/SVG).
        formats: figure formats, each figure written once per format.
        confusion: models that get confusion and per-class figures (``"gru,lstm"`` or a list);
            ``None``: every row.

    Returns:
        ``{"runs", "unfinished", "rows", "tests", "groups", "markdown", "latex", "out", "files", "figures"}``:
        the loaded runs, a line per job of the multirun without results, table rows, test rows,
        group captions and warnings, the text of ``report.md`` and ``report.tex``, the output
        directory, every written path and the figures alone.
    """
    from ucfbench.eval.run_dir import load_runs
    from ucfbench.eval.study import aggregate, describe_groups, duplicate_runs, ensemble, paired_tests
    from ucfbench.eval.sweep import describe_unfinished
    from ucfbench.eval.tables import render_latex, render_markdown
    from ucfbench.utils.io import atomic_write

    root = Path(root)
    out = Path(out) if out else root
    bad = sorted(set(formats) - set(FORMATS))
    if bad or not formats:
        raise ValueError(f"formats={','.join(formats)}: choose from png, pdf, svg")
    if dpi <= 0:
        raise ValueError(f"dpi={dpi}: must be positive")
    runs = load_runs(root)
    unfinished = describe_unfinished(root, finished={r.path for r in runs})
    notes = [f"{len(unfinished)} job(s) of this multirun have no results (not in the tables): "
             + "; ".join(unfinished) + ". Finish them: the study's command with "
             f"`hydra.sweep.dir={root} resume=true`."] if unfinished else []
    for spec in ensembles:
        members = _names(spec)
        if len(members) < 2:
            raise ValueError(f"ensemble={spec}: name at least two models, comma-separated (gru,lstm)")
        runs = runs + ensemble(runs, members)
        notes.append(f"`ensemble({'+'.join(members)})` averages the test probabilities of {', '.join(members)} "
                     "per (dataset, split, seed); its parameters and training time are the members' sums.")
    for (model, dataset, _protocol, split, _leaky, seed), n in duplicate_runs(runs).items():
        notes.append(f"{n} runs of {model} on {dataset} {split} seed {seed}: the sweep varies something besides "
                     "model, seed and split; the row mixes them and paired tests skip that key.")
    rows = aggregate(runs)
    heads = _names(confusion)
    if heads is not None and (unknown := sorted(set(heads) - {r["model"] for r in rows})):
        raise ValueError(f"confusion={','.join(heads)}: no runs of {unknown}; models present: "
                         f"{sorted({r['model'] for r in rows})}")
    groups = describe_groups(runs)
    tests = paired_tests(runs, rows, alpha=alpha)
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    if plots:
        from ucfbench.eval.plots import write_plots  # matplotlib only when drawing

        figures = write_plots(rows, runs, out, groups=groups, dpi=dpi, formats=tuple(formats), confusion_heads=heads)
    shown = "png" if "png" in formats else "svg" if "svg" in formats else None
    markdown = render_markdown(runs, rows, tests, source=str(root), groups=groups, notes=notes, alpha=alpha,
                               plots=[p.name for p in figures if p.suffix == f".{shown}"], formats=tuple(formats))
    latex = render_latex(rows, groups, source=str(root))
    files = {"report.csv": _csv(rows), "significance.csv": _csv(tests) if tests else "model_a,model_b\n",
             "report.md": markdown, "report.tex": latex}
    for name, text in files.items():
        atomic_write(out / name, text)
    return {"runs": runs, "unfinished": unfinished, "rows": rows, "tests": tests, "groups": groups,
            "markdown": markdown, "latex": latex, "out": out, "files": [out / n for n in files] + figures, "figures": figures}


COMMAND = Command(
    name="report",
    summary=("Aggregates every metrics.json under a sweep (or run) directory: report.md, report.csv (95% "
             "confidence intervals of top-1), report.tex (booktabs), significance.csv (paired tests) and "
             "the figures, written into the directory (or out=)."),
    keys={
        "dir": Key(None, "the multirun (or run) directory", placeholder="<sweep dir>"),
        "out": Key(None, "where to write (default: the directory itself)", placeholder="<dir>"),
        "ensemble": Key(None, "add a row averaging these models' test probabilities", repeatable=True,
                        placeholder="gru,lstm"),
        "alpha": Key(0.05, "significance level of the paired tests"),
        "plots": Key(True, "draw the figures (false: tables only)"),
        "dpi": Key(DPI, "resolution of the PNGs"),
        "formats": Key(",".join(FORMATS), "figure formats, comma-separated"),
        "confusion": Key(None, "confusion and per-class figures for these models only (default: every model)",
                         placeholder="gru,lstm"),
        "wandb": Key(False, "also log the report as one W&B run in the study's group (offline unless W&B is set up)"),
    },
    positional="dir",
    required=("dir",),
    exits={0: "report written", 2: "a mistake in the arguments, or no finished run under the directory"},
)


def main(argv: list[str] | None = None) -> int:
    """``ucfbench report <sweep dir> [key=value ...]``; see :data:`COMMAND` (or ``--help``)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = COMMAND.parse(argv)  # before the heavy imports: --help is instant
        root = Path(args["dir"]).expanduser()
        if not root.is_dir():
            raise UsageError(f"{root}: no such folder" if not root.exists() else f"{root}: not a folder")
        options = dict(ensembles=args["ensemble"], alpha=to_number("alpha", args["alpha"], float),
                       plots=to_bool("plots", args["plots"]), dpi=to_number("dpi", args["dpi"], int, low=1),
                       formats=tuple(_names(args["formats"])), confusion=args["confusion"])
        wandb = to_bool("wandb", args["wandb"])
    except UsageError as err:
        print_error(str(err))
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        result = write_report(root, args["out"], **options)
    except (FileNotFoundError, ValueError) as err:
        print_error(str(err))
        return EXIT_USAGE
    if wandb:
        from ucfbench.loggers.study import publish_study  # wandb only when asked

        publish_study(root, args["out"])
    print(result["markdown"])
    tables = [p.name for p in result["files"] if p not in result["figures"]]
    print(f"{len(result['runs'])} runs -> {result['out']}: {', '.join(tables)}"
          + (f", {len(result['figures'])} figure files ({args['formats']})" if result["figures"] else ""))
    if result["unfinished"]:
        print(f"{len(result['unfinished'])} job(s) without results (left out): the study's command with "
              f"hydra.sweep.dir={shlex.quote(str(args['dir']))} resume=true finishes them", file=sys.stderr)
        for line in result["unfinished"]:
            print(f"  {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
