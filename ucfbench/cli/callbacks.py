"""Hydra callbacks (``conf/hydra/default.yaml``, ``callbacks:``)."""

from __future__ import annotations

from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ucfbench.eval.run_dir import RunDir
from ucfbench.utils.commands import command


class ReportCommand(Callback):
    """At the end of a multirun: the sweep directory and the command that reports on it."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep = Path(str(config.hydra.sweep.dir)).resolve()
        finished = len(RunDir.finished_under(sweep)) if sweep.is_dir() else 0
        print(f"Sweep: {sweep}  ({finished} finished run{'s' if finished != 1 else ''})")
        print(f"Report: {command('report', str(sweep))}", flush=True)
