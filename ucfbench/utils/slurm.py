"""A SLURM request checked against the partition before a multirun submits it.

SLURM accepts a job asking for more CPUs than any node of its partition has and leaves it pending
forever (``Reason=PartitionConfig``). :class:`CheckSlurmRequest` (a Hydra callback,
``conf/hydra/default.yaml``) compares ``hydra/launcher=submitit_slurm``'s request with what
``sinfo`` says the partition's nodes have, and stops the multirun with a message naming the key
to change. Without ``sinfo`` (submitting from a machine that cannot see the cluster) nothing is checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ucfbench.utils.errors import EXIT_USAGE, UsageError, print_error

SLURM_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"


@dataclass(frozen=True)
class NodeGroup:
    """What the nodes of one ``sinfo`` line offer a job."""

    cpus: int
    mem_mb: int
    gpus: int
    minutes: float  # the partition's time limit (inf: none)


def _minutes(limit: str) -> float:
    """``sinfo``'s ``%l``: ``infinite``, ``MM``, ``MM:SS``, ``HH:MM:SS`` or ``D-HH:MM:SS`` -> minutes."""
    if limit in ("infinite", "UNLIMITED", "n/a", ""):
        return float("inf")
    days, _, rest = limit.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    h, m, s = ([0] * (3 - len(parts)) + parts) if len(parts) > 1 else (0, parts[0], 0)
    return (int(days or 0) * 24 + h) * 60 + m + s / 60


def _gpus(gres: str) -> int:
    """GPUs per node in ``sinfo``'s ``%G`` (``gpu:4``, ``gpu:a100:2(S:0-1)``, ``(null)``)."""
    return sum(int(m.group(1)) for m in re.finditer(r"gpu(?::[^:,(]+)?:(\d+)", gres))


def partition_nodes(partition: str | None) -> list[NodeGroup] | None:
    """The node groups of ``partition`` (the default partition when None); None where ``sinfo``
    is missing or does not answer."""
    if shutil.which("sinfo") is None:
        return None
    args = ["sinfo", "-h", "-o", "%P|%c|%m|%G|%l"] + (["-p", partition] if partition else [])
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    groups = []
    for line in out.splitlines():
        name, cpus, mem, gres, limit = line.split("|")
        if partition is None and not name.endswith("*"):
            continue  # not the default partition
        groups.append(NodeGroup(cpus=int(cpus.rstrip("+")), mem_mb=int(mem.rstrip("+")), gpus=_gpus(gres),
                                minutes=_minutes(limit)))
    return groups


def request_problems(launcher: DictConfig, nodes: list[NodeGroup]) -> list[str]:
    """Why no node of the partition can run one job of ``launcher``'s request ([] when one can)."""
    tasks = int(launcher.get("tasks_per_node") or 1)
    need = {
        "cpus": int(launcher.get("cpus_per_task") or 1) * tasks,
        "mem_mb": int(float(launcher.get("mem_gb") or 0) * 1024),
        "gpus": int(launcher.get("gpus_per_node") or 0) + _gpus(str(launcher.get("gres") or "")),
        "minutes": float(launcher.get("timeout_min") or 0),
    }
    if not nodes:
        return [f"hydra.launcher.partition={launcher.get('partition')}: sinfo lists no nodes in it"]
    if any(all(getattr(g, k) >= v for k, v in need.items()) for g in nodes):
        return []
    most = {k: max(getattr(g, k) for g in nodes) for k in need}
    keys = {"cpus": "cpus_per_task (x tasks_per_node)", "mem_mb": "mem_gb", "gpus": "gpus_per_node / gres",
            "minutes": "timeout_min"}
    shown = {"cpus": "{:g} CPUs", "mem_mb": "{:g} MB", "gpus": "{:g} GPUs", "minutes": "{:g} minutes"}
    return [f"hydra.launcher.{keys[k]} asks {shown[k].format(v)}, the partition's nodes have at most "
            f"{shown[k].format(most[k])}" for k, v in need.items() if v > most[k]] or [
        "no single node of the partition has all of what one job asks (CPUs, memory, GPUs, time)"]


def check_request(config: DictConfig) -> None:
    """Raise :class:`UsageError` when the multirun's SLURM request cannot run on its partition."""
    launcher = config.hydra.launcher
    if launcher.get("_target_") != SLURM_LAUNCHER:
        return
    nodes = partition_nodes(launcher.get("partition"))
    if nodes is None:
        return
    problems = request_problems(launcher, nodes)
    if problems:
        where = f"partition {launcher.get('partition')}" if launcher.get("partition") else "the default partition"
        raise UsageError(f"SLURM would leave these jobs pending forever on {where}: " + "; ".join(problems)
                         + ". Lower them (e.g. hydra.launcher.cpus_per_task=...) or choose another "
                         "hydra.launcher.partition=... ('sinfo -o \"%P %c %m %G %l\"' lists them).")


class CheckSlurmRequest(Callback):
    """Stops a multirun through ``hydra/launcher=submitit_slurm`` (or a config extending it) whose
    request no node of the partition can satisfy, instead of leaving its jobs pending forever.

    Exits (status 2, the message on stderr) rather than raising: Hydra turns a callback's
    exception into a warning and submits anyway.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        try:
            check_request(config)
        except UsageError as err:
            print_error(str(err))
            raise SystemExit(EXIT_USAGE) from None
