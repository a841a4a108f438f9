"""UCF50, indexed by listing its class folders (it ships no split files).

Protocols (``dataset.protocol``):

* ``logo``: leave-one-group-out, 25-fold cross-validation, the protocol UCF recommends: fold ``k``
  tests on group ``k`` of every class and trains on the other 24.
* ``groups``: one fixed group hold-out (``dataset.test_groups``, default 1-7 as UCF101 split 1).
* ``random``: a seeded, class-stratified random split over clips (``dataset.test_fraction``), kept
  only to reproduce the UCF50 write-up's table. Clips of one group share actor and scene, so they land on
  both sides and the test score is inflated: the dataset reports ``leaky: true``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from ucfbench.data.base import ActionDataset, DatasetError, check_root
from ucfbench.data.splits import holdout_fraction, parse_ucf_name
from ucfbench.data.types import VideoRecord
from ucfbench.data.video import is_video

log = logging.getLogger(__name__)

PROTOCOLS = ("logo", "groups", "random")
NUM_GROUPS = 25


def list_ucf_folders(root: Path, *, name: str) -> tuple[list[str], list[VideoRecord]]:
    """Class folders of ``root`` (sorted) and their UCF-named videos; group and clip from the name.

    The label comes from the folder, never from the name's class token, which has typos
    (``Billiards/v_Billards_*``). Raises :class:`DatasetError` for names without a group.
    """
    check_root(root, name=name)
    classes, records, strays = [], [], []
    folders = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    for folder in folders:
        with os.scandir(root / folder) as entries:
            files = sorted(e.name for e in entries if e.is_file() and is_video(e.name))
        if not files:
            log.warning("%s: no videos, not a class folder; ignored", root / folder)
            continue
        label = len(classes)
        classes.append(folder)
        for file in files:
            parsed = parse_ucf_name(file)
            if parsed is None:
                strays.append(f"{folder}/{file}")
                continue
            records.append(VideoRecord(relpath=f"{folder}/{file}", label=label, group=parsed[1], clip=parsed[2]))
    if strays:
        shown = "\n  ".join(strays[:10])
        raise DatasetError(
            f"{len(strays)} video(s) under {root} are not UCF names (v_<Class>_gNN_cMM.<ext>), so their "
            f"group is unknown:\n  {shown}\nRemove or rename them, or use dataset=folder with a "
            "dataset.group_pattern."
        )
    return classes, records


class UCF50(ActionDataset):
    """UCF50 under leave-one-group-out, a fixed group hold-out, or the leaky random split.

    Args:
        root: the extracted ``UCF50/`` folder (50 class folders inside).
        protocol: ``logo``, ``groups`` or ``random`` (see the module docstring).
        fold: ``logo`` fold 1-25; fold ``k`` tests group ``k``.
        test_groups: ``groups`` protocol: the group numbers tested.
        test_fraction: ``random`` protocol: share of each class's clips tested.
        val_groups: group numbers of the training videos held out for validation.
        val_fraction: ``random`` protocol: share of the training clips held out for validation.
        seed: chooses the validation videos and the ``random`` split.
    """

    name = "ucf50"

    def __init__(
        self,
        *,
        root: str | Path,
        protocol: str = "logo",
        fold: int = 1,
        test_groups: Sequence[int] = (1, 2, 3, 4, 5, 6, 7),
        test_fraction: float = 0.2,
        val_groups: int = 3,
        val_fraction: float = 0.1,
        seed: int = 0,
        on_bad_video: str = "error",
    ) -> None:
        super().__init__(
            root=root, val_groups=val_groups, seed=seed, val_fraction=val_fraction, on_bad_video=on_bad_video
        )
        if protocol not in PROTOCOLS:
            raise ValueError(f"dataset.protocol must be one of {PROTOCOLS}, got {protocol!r}")
        if protocol == "logo" and not 1 <= fold <= NUM_GROUPS:
            raise ValueError(f"dataset.fold must be 1..{NUM_GROUPS} (fold k tests group k), got {fold}")
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"dataset.test_fraction must be in (0, 1), got {test_fraction}")
        self.protocol = protocol
        self.fold = fold
        self.test_groups = sorted(int(g) for g in test_groups)
        self.test_fraction = test_fraction
        self.leaky = protocol == "random"

    @property
    def split_name(self) -> str:
        return f"fold{self.fold:02d}" if self.protocol == "logo" else self.protocol

    @cached_property
    def _listing(self) -> tuple[list[str], list[VideoRecord]]:
        return list_ucf_folders(self.root, name=self.name)  # shared by the fold variants

    def folds(self) -> list[ActionDataset]:
        if self.protocol != "logo":
            return []
        groups = sorted({r.group for r in self._listing[1]})
        return [self.variant(fold=g) for g in groups]

    def _load(self) -> tuple[list[str], dict[str, list[VideoRecord]]]:
        classes, records = self._listing
        if self.protocol == "random":
            train, test = holdout_fraction(records, fraction=self.test_fraction, seed=self.seed)
            return classes, {"train": train, "test": test}
        held = {self.fold} if self.protocol == "logo" else set(self.test_groups)
        absent = sorted(held - {r.group for r in records})
        if absent:
            raise DatasetError(
                f"{self.name} {self.split_name}: no videos of group(s) {absent} under {self.root}; UCF50 "
                f"has groups 1-{NUM_GROUPS}: check dataset.fold / dataset.test_groups and dataset.root"
            )
        return classes, {
            "train": [r for r in records if r.group not in held],
            "test": [r for r in records if r.group in held],
        }

    @property
    def protocol_name(self) -> str:
        return self.protocol

    @property
    def fold_number(self) -> int | None:
        return int(self.fold) if self.protocol == "logo" else None

    def describe(self) -> dict:
        info = super().describe()
        if self.protocol == "groups":
            info["test_groups"] = self.test_groups
        if self.protocol == "random":
            info.update(test_fraction=self.test_fraction, split_seed=self.seed)
        return info
