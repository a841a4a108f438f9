"""A study's report in W&B: ``ucfbench report <sweep dir> wandb=true``.

One summary run (``job_type=report``) in the study's group holds what ``report.md`` holds: the
table (``report.csv``, ensembles included), the significance table (``significance.csv``), the
plots (``*.png``) and the Markdown itself. It reads the files the report wrote, nothing else.
"""

from __future__ import annotations

import csv
import html
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ucfbench.eval.run_dir import RunDir
from ucfbench.loggers.identity import study_of_run_dir
from ucfbench.utils.wandb_mode import wandb_mode

log = logging.getLogger("ucfbench")


def study_of(root: Path) -> str:
    """The W&B group of the runs under ``root`` (their most common study), else ``root``'s name."""
    studies = Counter(s for run in RunDir.finished_under(root) if (s := study_of_run_dir(run)))
    if not studies:
        return root.name
    if len(studies) > 1:
        log.warning("W&B: runs under %s belong to %d studies (%s); the report goes to %s", root, len(studies),
                    ", ".join(studies), studies.most_common(1)[0][0])
    return studies.most_common(1)[0][0]


def _project(root: Path) -> str:
    for run in RunDir.finished_under(root):
        config = RunDir(run).config
        if not config.is_file():
            continue
        project = OmegaConf.select(OmegaConf.load(config), "logger.wandb.project", default=None)
        if project:
            return str(project)
    return "ucfbench"


def _table(path: Path) -> Any:
    import wandb

    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return None

    def cell(v: str) -> Any:
        try:
            return float(v) if v else None
        except ValueError:
            return v

    return wandb.Table(columns=rows[0], data=[[cell(v) for v in r] for r in rows[1:]])


def _row_summary(rows: list[dict]) -> dict[str, float]:
    """``<model>/top1_mean``... for every row of ``report.csv`` (``<model>@<dataset>-<protocol>`` when it has several)."""
    several = len({(r.get("dataset"), r.get("protocol"), r.get("leaky")) for r in rows}) > 1
    summary = {}
    for row in rows:
        key = row.get("model", "?")
        if several:
            key += f"@{row.get('dataset')}-{row.get('protocol')}" + ("-leaky" if row.get("leaky") == "True" else "")
        for column, value in row.items():
            if column.endswith(("_mean", "_std")) and value not in ("", None):
                summary[f"{key}/{column}"] = float(value)
    return summary


def publish_study(root: str | Path, out: str | Path | None = None) -> str | None:
    """Log the report written in ``out`` (default ``root``) as one W&B run in the study's group.

    Returns the group, or None when ``WANDB_MODE=disabled``.
    """
    import wandb

    root = Path(root)
    out = Path(out) if out else root
    mode = wandb_mode()
    if mode == "disabled":
        log.info("W&B: WANDB_MODE=disabled, the report is not logged")
        return None
    group = study_of(root)
    report_rows = list(csv.DictReader((out / "report.csv").open(newline="")))
    run = wandb.init(project=_project(root), group=group, job_type="report", name=f"{group}-report", dir=str(out),
                     mode=mode, config={"study": group, "source": str(root), "rows": len(report_rows)},
                     settings=wandb.Settings(quiet=True, silent=True, console="off"))
    logged: dict[str, Any] = {}
    for name in ("report", "significance"):
        if (out / f"{name}.csv").is_file() and (table := _table(out / f"{name}.csv")) is not None:
            logged[name] = table
    for png in sorted(out.glob("*.png")):
        logged[f"plots/{png.stem}"] = wandb.Image(str(png))
    if (out / "report.md").is_file():
        logged["report_md"] = wandb.Html(f"<pre>{html.escape((out / 'report.md').read_text())}</pre>")
    run.log(logged)
    run.summary.update(_row_summary(report_rows))
    where = Path(run.dir).parent
    run.finish()
    if mode == "offline":
        log.info("W&B: report run %s (group %s) saved offline; upload it with: wandb sync %s", run.name, group, where)
    else:
        log.info("W&B: report run %s in group %s: %s", run.name, group, run.url)
    return group
