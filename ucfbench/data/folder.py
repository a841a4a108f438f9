"""Any folder of videos: ``<root>/<class>/*.{avi,mp4,mkv,webm}``, split by group or stratified.

With ``dataset.group_pattern`` (a regex with a named group ``group``, searched in each file name)
whole groups go to test (about ``test_fraction`` of every class) and to validation. A group value
names the same group in every class, as UCF's ``gNN`` numbers a cut of every class, so a group
value is never on both sides. Without a pattern the split is stratified over clips: fine for
videos that are all independent, a leak if several clips come from one source video.
"""

from __future__ import annotations

import logging
import os
import re
from functools import cached_property
from pathlib import Path

from ucfbench.data.base import ActionDataset, DatasetError, check_root
from ucfbench.data.splits import holdout_fraction
from ucfbench.data.types import VideoRecord
from ucfbench.data.video import is_video

log = logging.getLogger(__name__)


class VideoFolder(ActionDataset):
    """One folder per class of videos, split by seeded fractions.

    Args:
        root: the folder holding one folder per class.
        group_pattern: regex with a named group ``group``, e.g. ``_g(?P<group>\\d+)_`` for UCF names;
            None for a stratified split over clips.
        test_fraction: share of each class held out for test.
        val_fraction: share of each class's training videos held out for validation.
        seed: chooses the test and validation videos (or groups).
    """

    name = "folder"

    def __init__(
        self,
        *,
        root: str | Path,
        group_pattern: str | None = None,
        test_fraction: float = 0.2,
        val_fraction: float = 0.1,
        seed: int = 0,
        on_bad_video: str = "error",
    ) -> None:
        super().__init__(root=root, seed=seed, val_fraction=val_fraction, on_bad_video=on_bad_video)
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"dataset.test_fraction must be in (0, 1), got {test_fraction}")
        self.pattern = re.compile(group_pattern) if group_pattern else None
        if self.pattern is not None and "group" not in self.pattern.groupindex:
            raise ValueError(f"dataset.group_pattern {group_pattern!r} needs a named group: (?P<group>...)")
        self.test_fraction = test_fraction

    @property
    def split_name(self) -> str:
        return f"{'grouped' if self.pattern else 'stratified'}{round(100 * self.test_fraction):02d}"

    @property
    def grouped(self) -> bool:
        return self.pattern is not None

    def _group_key(self, r: VideoRecord) -> object:
        return r.group if self.pattern is not None else r.relpath

    @cached_property
    def _listing(self) -> tuple[list[str], list[tuple[str, int]]]:
        """Class folders (sorted) and ``(relpath, label)`` of every video."""
        if not self.root.is_dir():
            raise DatasetError(
                f"dataset.root {self.root} does not exist. dataset=folder reads your own videos, one folder "
                "per class (<root>/<class name>/<video>.mp4, .avi, ...): set dataset.root=<that folder>")
        check_root(self.root, name="video")
        classes, files = [], []
        for folder in sorted(e.name for e in os.scandir(self.root) if e.is_dir() and not e.name.startswith(".")):
            with os.scandir(self.root / folder) as entries:
                videos = sorted(e.name for e in entries if e.is_file() and is_video(e.name))
            if not videos:
                log.warning("%s: no videos, not a class folder; ignored", self.root / folder)
                continue
            files += [(f"{folder}/{v}", len(classes)) for v in videos]
            classes.append(folder)
        return classes, files

    def _groups(self, files: list[tuple[str, int]]) -> list[int]:
        """Group number of each file: the matched value (as an int if every value is one)."""
        values, unmatched = [], []
        for relpath, _ in files:
            match = self.pattern.search(relpath.rsplit("/", 1)[-1])
            if match is None:
                unmatched.append(relpath)
            values.append(match["group"] if match else "")
        if unmatched:
            shown = "\n  ".join(unmatched[:10])
            raise DatasetError(
                f"{len(unmatched)} video(s) under {self.root} do not match dataset.group_pattern "
                f"{self.pattern.pattern!r}:\n  {shown}\nFix the pattern, or drop it (null) for a stratified split."
            )
        if all(v.isdigit() for v in values):
            return [int(v) for v in values]
        ids = {v: i for i, v in enumerate(sorted(set(values)))}
        return [ids[v] for v in values]

    def _load(self) -> tuple[list[str], dict[str, list[VideoRecord]]]:
        classes, files = self._listing
        groups = self._groups(files) if self.pattern is not None else [-1] * len(files)
        records = [VideoRecord(relpath=p, label=label, group=g) for (p, label), g in zip(files, groups)]
        train, test = holdout_fraction(records, fraction=self.test_fraction, seed=self.seed, key=self._group_key)
        return classes, {"train": train, "test": test}

    def _split_val(self, train: list[VideoRecord]) -> tuple[list[VideoRecord], list[VideoRecord]]:
        return holdout_fraction(train, fraction=self.val_fraction, seed=self.seed, key=self._group_key)

    def check_exists(self) -> None:
        self._listing  # noqa: B018 - lists the class folders, raising DatasetError with the fix

    def empty_subset_message(self, name: str, subsets: dict[str, list[VideoRecord]]) -> str:
        """Per-class video counts and the keys that fix an empty ``name`` subset of a small folder."""
        classes = self._listing[0]
        counts = {c: 0 for c in classes}
        for records in subsets.values():
            for r in records:
                counts[classes[r.label]] += 1
        shown = ", ".join(f"{c} {n}" for c, n in counts.items())
        unit = "groups" if self.pattern is not None else "videos"
        if name == "val":
            fix = (f"raise dataset.val_fraction (now {self.val_fraction}; a class of n training {unit} needs "
                   f"about val_fraction >= 0.5/n)")
        elif name == "test":
            fix = (f"raise dataset.test_fraction (now {self.test_fraction}; a class of n {unit} needs about "
                   "test_fraction >= 0.5/n)")
        else:
            fix = f"lower dataset.test_fraction (now {self.test_fraction})"
        return (f"folder ({self.split_name}) has no {'validation' if name == 'val' else name} videos: "
                f"too few {unit} per class for the split (videos per class: {shown}); {fix}, "
                f"or add videos (at least 3 per class: train, validation, test)")

    def describe(self) -> dict:
        return {**super().describe(), "group_pattern": self.pattern.pattern if self.pattern else None,
                "test_fraction": self.test_fraction, "split_seed": self.seed}

    @property
    def protocol_name(self) -> str:
        return "grouped" if self.pattern else "stratified"
