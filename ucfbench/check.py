"""Check a dataset on disk before training on it.

    uv run ucfbench check dataset=ucf101 dataset.root=/data/UCF-101 [dataset.split=2] [probe=true]

Composes the training config (``conf/check.yaml`` extends ``conf/config.yaml``, so every dataset
override works as it does for ``ucfbench.run``), indexes the dataset with the code training uses,
and prints the classes, the videos and groups of train / val / test (of every fold or split of
the protocol), the listed files missing from disk and, with ``probe=true``, the files that cannot
be decoded and the duration / frame-rate / resolution statistics. Probing opens every video and
decodes ``probe_frames`` frames spread over it, so it reads the whole dataset.

The last line of the output is one JSON object: ``dataset``, ``split``, ``leaky``, ``classes``,
``train``, ``val``, ``test``, ``groups``, ``missing`` / ``missing_files``, ``unreadable`` /
``unreadable_files`` (``{relpath: reason}``), ``probed``, ``stats``, ``pairs`` (the class pairs of
within-pair accuracy, ``"A/B"`` as ``metrics.json`` names them) and ``folds`` (one entry per fold or
split: ``fold``, ``split``, ``train``, ``val``, ``test``). Exit status: 0 when all is
well, 1 when files are missing or unreadable, 2 when the dataset cannot be indexed (``error``).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # --help and config mistakes answered before torch loads
    from ucfbench.cli.front import front_door

    front_door("check", validate=False)

import json  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.errors import InstantiationException  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import DictConfig  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from ucfbench.cli.main import hydra_main  # noqa: E402
from ucfbench.data.base import SUBSETS, ActionDataset, DatasetError  # noqa: E402
from ucfbench.data.sampling import UniformSampler  # noqa: E402
from ucfbench.data.video import VideoInfo, probe, read_frames  # noqa: E402
from ucfbench.utils.errors import dataset_hint  # noqa: E402
from ucfbench.utils.resolvers import register_resolvers  # noqa: E402

register_resolvers()


def split_counts(dataset: ActionDataset) -> dict:
    """Videos of train / val / test and whether the protocol keeps groups apart."""
    counts: dict = {name: len(dataset.subset(name)) for name in SUBSETS}
    counts["groups"] = {name: len({r.group for r in dataset.subset(name) if r.group >= 0}) for name in SUBSETS}
    return counts


def fold_rows(dataset: ActionDataset) -> list[dict]:
    """One row per fold / split of the protocol; a fold that cannot be indexed carries ``error``."""
    rows = []
    for i, fold in enumerate(dataset.folds(), 1):
        number = re.search(r"(\d+)$", fold.split_name)
        row: dict = {"fold": int(number[1]) if number else i, "split": fold.split_name}
        try:
            row.update({name: len(fold.subset(name)) for name in SUBSETS})
        except (DatasetError, AssertionError) as e:
            row["error"] = str(e)
        rows.append(row)
    return rows


def probe_videos(
    root: Path, relpaths: list[str], *, backend: str, frames: int, console: Console
) -> tuple[dict[str, VideoInfo], dict[str, str]]:
    """Probe and decode ``frames`` frames of each video: (infos of the good ones, {bad: reason})."""
    sampler = UniformSampler(num_frames=frames)
    infos, bad = {}, {}
    columns = (TextColumn("probing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        for relpath in progress.track(relpaths):
            path = root / relpath
            try:
                info = probe(path, backend=backend)
                read_frames(path, sampler, backend=backend)
            except Exception as e:  # noqa: BLE001 - a checker reports every failure, whatever it is
                bad[relpath] = str(e).replace(f"{path}: ", "")
            else:
                infos[relpath] = info
    return infos, bad


def video_stats(infos: dict[str, VideoInfo]) -> dict:
    """Duration, frame-count, frame-rate and resolution statistics of probed videos."""
    if not infos:
        return {}

    def spread(values: list[float]) -> dict:
        return {"min": round(min(values), 3), "median": round(statistics.median(values), 3),
                "max": round(max(values), 3)}

    values = list(infos.values())
    return {
        "duration_s": spread([v.duration for v in values]),
        "frames": spread([v.num_frames for v in values]),
        "fps": dict(Counter(f"{v.fps:.2f}" for v in values).most_common()),
        "resolution": dict(Counter(f"{v.width}x{v.height}" for v in values).most_common()),
    }


def leak_verdict(dataset: ActionDataset) -> str:
    """One answer to "can a source video be on both sides?": yes, no, or not guarded."""
    if dataset.leaky:
        return "yes (random over clips: clips of one group land in train and test)"
    if dataset.grouped:
        return "no (train / val / test are disjoint by group)"
    return ("not guarded (disjoint by video only: clips cut from one source video can land in train and "
            "test; set dataset.group_pattern to keep groups apart)")


def _print_report(console: Console, dataset: ActionDataset, result: dict) -> None:
    console.print(f"[bold]{dataset.name}[/] at {dataset.root}: protocol {dataset.split_name}, "
                  f"leaky: {leak_verdict(dataset)}", soft_wrap=True)
    names = dataset.classes
    console.print(f"{len(names)} classes: {', '.join(names[:8])}{', ...' if len(names) > 8 else ''}")
    table = Table("subset", "videos", "groups", "classes")
    for name in SUBSETS:
        records = dataset.subset(name)
        table.add_row(name, str(len(records)), str(result["groups"][name]), str(len({r.label for r in records})))
    console.print(table)
    if dataset.pairs:
        shown = "; ".join(f"{' / '.join(p['classes'])} ({p['kind']})" for p in dataset.pairs)
        console.print(f"{len(dataset.pairs)} class pairs for within-pair accuracy: {shown}", soft_wrap=True)
    if result["folds"]:
        folds = Table("fold", "split", "train", "val", "test", title=f"{len(result['folds'])} folds of the protocol")
        for row in result["folds"]:
            cells = [str(row.get(k, "")) for k in SUBSETS] if "error" not in row else ["error", row["error"], ""]
            folds.add_row(str(row["fold"]), row["split"], *cells)
        console.print(folds)
    _print_files(console, "missing (listed, not on disk)", {m: "" for m in result["missing_files"]}, dataset.root)
    if result["probed"]:
        _print_files(console, "unreadable", result["unreadable_files"], dataset.root)
        stats = result["stats"]
        if stats:
            for key in ("duration_s", "frames"):
                console.print(f"{key}: min {stats[key]['min']}, median {stats[key]['median']}, max {stats[key]['max']}")
            for key in ("fps", "resolution"):
                top = ", ".join(f"{k} ({n})" for k, n in list(stats[key].items())[:6])
                console.print(f"{key}: {top}{', ...' if len(stats[key]) > 6 else ''}")
    else:
        console.print("unreadable: not checked (add probe=true to decode every video)")


def _print_files(console: Console, what: str, files: dict[str, str], root: Path, limit: int = 50) -> None:
    console.print(f"{what}: {len(files)}", style="bold red" if files else "green")
    for relpath, reason in list(files.items())[:limit]:
        console.print(f"  {root / relpath}" + (f": {reason}" if reason else ""), soft_wrap=True, highlight=False)
    if len(files) > limit:
        console.print(f"  ... and {len(files) - limit} more (all listed in the JSON line)")


def _dataset_choice() -> str | None:
    """The ``dataset=`` option of this command line (None outside a Hydra job)."""
    return HydraConfig.get().runtime.choices.get("dataset") if HydraConfig.initialized() else None


def check(cfg: DictConfig, console: Console) -> tuple[dict, int]:
    """Index (and with ``cfg.probe`` decode) the configured dataset; return (JSON summary, exit status)."""
    name = cfg.dataset.get("_target_", "?").rsplit(".", 1)[-1]
    try:
        dataset: ActionDataset = instantiate(cfg.dataset)
        name = dataset.name
        result: dict = {"dataset": dataset.name, "root": str(dataset.root), "split": dataset.split_name,
                        "leaky": dataset.leaky, "grouped": dataset.grouped, "classes": dataset.num_classes, **split_counts(dataset),
                        "pairs": ["/".join(p["classes"]) for p in dataset.pairs]}
    except Exception as e:  # noqa: BLE001 - bad config or layout: report it, as the JSON too
        cause = e.__cause__ if isinstance(e, InstantiationException) and e.__cause__ else e
        console.print(f"[bold red]cannot index {name}:[/] {cause}", soft_wrap=True, highlight=False)
        # where to download it, not the command just run
        hint = dataset_hint(_dataset_choice()).split("\n")[0] if isinstance(cause, DatasetError) else ""
        if hint.startswith("Download"):
            console.print(hint, soft_wrap=True, highlight=False)
        return {"dataset": name, "error": str(cause)}, 2
    missing = dataset.missing_files()
    probing = bool(cfg.get("probe", False))  # absent when composed from config.yaml (tests)
    result.update(missing=len(missing), missing_files=missing, folds=fold_rows(dataset), probed=probing)
    unreadable: dict[str, str] = {}
    stats: dict = {}
    if probing:
        absent = set(missing)
        present = [r.relpath for r in dataset.records() if r.relpath not in absent]
        infos, unreadable = probe_videos(dataset.root, present, backend=cfg.features.get("backend", "auto"),
                                         frames=cfg.get("probe_frames", 8), console=Console(stderr=True))
        stats = video_stats(infos)
    result.update(unreadable=len(unreadable), unreadable_files=unreadable, stats=stats)
    _print_report(console, dataset, result)
    return result, int(bool(missing or unreadable))


@hydra_main(config_path="../conf", config_name="check", validate=False)  # short errors for bad keys/options
def main(cfg: DictConfig) -> None:
    """Print the readable report, then the JSON summary as the last line; exit 0 / 1 / 2."""
    result, status = check(cfg, Console())
    sys.stdout.flush()
    print(json.dumps(result), flush=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
