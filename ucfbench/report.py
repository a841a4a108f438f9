"""Report on a sweep: ``python -m ucfbench.report <multirun dir> [--out DIR] [--ensemble gru,lstm ...]``.

Reads every ``metrics.json`` under the directory (recursively) and writes ``report.md``,
``report.csv``, ``significance.csv`` and the PNG plots into it (or ``--out``).
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import sys
from pathlib import Path

from ucfbench.eval.study import (
    LEAKY_NOTE,
    aggregate,
    duplicate_runs,
    ensemble,
    load_runs,
    paired_tests,
    render_markdown,
)
from ucfbench.utils.io import atomic_write

log = logging.getLogger("ucfbench")


def _csv(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
    return buf.getvalue()


def write_report(root: str | Path, out: str | Path | None = None, *, ensembles: list[str] = (),
                 alpha: float = 0.05, plots: bool = True) -> dict:
    """Aggregate the runs under ``root`` and write the report files into ``out`` (default ``root``).

    Args:
        root: a run or multirun directory (searched recursively for ``metrics.json``).
        out: where to write; created if missing.
        ensembles: comma-separated model lists, e.g. ``["gru,lstm"]``; each adds a row
            ``ensemble(gru+lstm)`` averaging those models' test probabilities per split and seed.
        alpha: significance level of the paired tests.
        plots: draw the PNG figures.

    Returns:
        ``{"runs", "rows", "tests", "files"}``: the loaded runs, table rows, test rows, written paths.
    """
    root = Path(root)
    out = Path(out) if out else root
    out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(root)
    notes = []
    for spec in ensembles:
        members = [m.strip() for m in spec.split(",") if m.strip()]
        if len(members) < 2:
            raise ValueError(f"--ensemble {spec!r}: name at least two models, comma-separated (gru,lstm)")
        runs = runs + ensemble(runs, members)
        notes.append(f"`ensemble({'+'.join(members)})` averages the test probabilities of {', '.join(members)} "
                     "per (dataset, split, seed); its parameters and training time are the members' sums.")
    for (model, dataset, split, _leaky, seed), n in duplicate_runs(runs).items():
        notes.append(f"{n} runs of {model} on {dataset} {split} seed {seed}: the sweep varies something besides "
                     "model, seed and split; the row mixes them and paired tests skip that key.")
    rows = aggregate(runs)
    if any(r["leaky"] for r in rows):
        notes.append(f"{LEAKY_NOTE}: clips of one group (scene, actor) can be in train and test, which inflates "
                     "accuracy; compare leaky rows only with each other.")
    tests = paired_tests(runs, rows, alpha=alpha)
    files = [out / "report.csv", out / "significance.csv", out / "report.md"]
    atomic_write(files[0], _csv(rows))
    atomic_write(files[1], _csv(tests) if tests else "model_a,model_b\n")
    figures = []
    if plots:
        from ucfbench.eval.plots import write_plots  # matplotlib only when drawing

        figures = write_plots(rows, runs, out)
    atomic_write(files[2], render_markdown(runs, rows, tests, source=str(root), notes=notes, alpha=alpha,
                                           plots=[p.name for p in figures]))
    return {"runs": runs, "rows": rows, "tests": tests, "files": files + figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ucfbench.report", description=__doc__.split("\n\n")[1])
    parser.add_argument("root", type=Path, help="a multirun (or run) directory")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: the root)")
    parser.add_argument("--ensemble", action="append", default=[], metavar="M1,M2[,...]",
                        help="add an ensemble row averaging these models' probabilities (repeatable)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    parser.add_argument("--no-plots", action="store_true", help="tables only")
    parser.add_argument("--wandb", action="store_true",
                        help="also log the report as one W&B run in the study's group (offline unless W&B is set up)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        result = write_report(args.root, args.out, ensembles=args.ensemble, alpha=args.alpha,
                              plots=not args.no_plots)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.wandb:
        from ucfbench.loggers.study import publish_study  # wandb only when asked

        publish_study(args.root, args.out)
    print((Path(args.out or args.root) / "report.md").read_text())
    print(f"{len(result['runs'])} runs -> " + ", ".join(str(p) for p in result["files"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
