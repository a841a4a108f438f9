"""Which jobs of a multirun finished: the jobs its command asked for against the study's folder.

A multirun writes ``multirun.yaml`` (its config and command-line overrides) into its folder and
each job into ``<folder>/<job number>/`` (``hydra.sweep.subdir``). A job with a complete
``metrics.json`` finished; a job folder without one was interrupted or failed; a job without a
folder never started. The same command with ``hydra.sweep.dir=<folder> resume=true`` finishes
the study (docs/slurm.md).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from ucfbench.eval.run_dir import finished_metrics

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


@dataclass(frozen=True)
class Job:
    """One job of a multirun: its number, its overrides (None where the sweeper chose them) and state."""

    num: int
    overrides: tuple[str, ...] | None
    state: str  # "finished", "unfinished" (a folder, no results) or "not started"


def _planned(config) -> list[list[str]] | None:
    """The jobs Hydra's basic sweeper makes of this multirun's config, in job-number order."""
    sweeper = config.hydra.get("sweeper") or {}
    if sweeper.get("_target_") != BASIC_SWEEPER:
        return None  # Optuna and other sweepers choose their jobs as they go
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    arguments = params + list(config.hydra.overrides.task)
    overrides = OverridesParser.create().parse_overrides(arguments)
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


def sweep_jobs(root: str | Path, finished: Collection[Path] | None = None) -> list[Job] | None:
    """Every job of the multirun in ``root`` with its state, or None where ``root`` is no multirun
    folder (no ``multirun.yaml``). With a sweeper other than Hydra's basic one, only the job folders
    present are known. ``finished``: the run folders already read (the report's runs), else each
    job's ``metrics.json`` is read here."""
    root = Path(root)
    path = root / "multirun.yaml"
    if not path.is_file():
        return None
    planned = _planned(OmegaConf.load(path))
    present = sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())
    count = max(len(planned) if planned is not None else 0, present[-1] + 1 if present else 0)
    jobs = []
    for num in range(count):
        folder = root / str(num)
        done = folder in finished if finished is not None else finished_metrics(folder) is not None
        state = "finished" if done else "unfinished" if folder.is_dir() else "not started"
        if planned is None and state == "not started":
            continue
        overrides = tuple(planned[num]) if planned is not None and num < len(planned) else None
        jobs.append(Job(num=num, overrides=overrides, state=state))
    return jobs


def describe_unfinished(root: str | Path, finished: Collection[Path] | None = None) -> list[str]:
    """One line per job of the multirun in ``root`` without results ([] when all finished or not a
    multirun); ``finished`` as in :func:`sweep_jobs`."""
    jobs = sweep_jobs(root, finished) or []
    lines = []
    for job in jobs:
        if job.state == "finished":
            continue
        what = " ".join(job.overrides) if job.overrides is not None else "(overrides chosen by the sweeper)"
        lines.append(f"job {job.num} {job.state}: {what}")
    return lines
