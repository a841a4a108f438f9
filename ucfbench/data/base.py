"""The contract every dataset implements: classes, one protocol's train / val / test lists."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from functools import cached_property
from pathlib import Path

from ucfbench.data.splits import assert_disjoint, holdout_groups
from ucfbench.data.types import VideoRecord

SUBSETS = ("train", "val", "test")


class DatasetError(RuntimeError):
    """The dataset on disk does not match what its configuration expects."""


class ActionDataset(ABC):
    """A labelled video dataset under one evaluation protocol.

    Subclasses parse their split files in :meth:`_load`; validation is carved out of the
    training videos by group here, so no protocol ever selects or early-stops on test.

    Args:
        root: folder that holds the class folders.
        val_groups: group numbers of the training split held out for validation.
        seed: chooses the validation groups.
    """

    name: str = "dataset"
    leaky: bool = False  # True where clips of one group can land in both train and test

    def __init__(self, *, root: str | Path, val_groups: int = 2, seed: int = 0) -> None:
        self.root = Path(root).expanduser().resolve()
        self.val_groups = val_groups
        self.seed = seed

    # -- to implement ---------------------------------------------------------------------
    @abstractmethod
    def _load(self) -> tuple[list[str], dict[str, list[VideoRecord]]]:
        """Return (class names, {"train": [...], "test": [...]}), reading split files only."""

    @property
    @abstractmethod
    def split_name(self) -> str:
        """Name of the protocol instance, e.g. ``split1`` or ``fold03``."""

    # -- shared behaviour -----------------------------------------------------------------
    def prepare(self) -> None:
        """Make the dataset ready (generate, check): raise :class:`DatasetError` if it is not."""
        missing = self.missing_files()
        if missing:
            shown = "\n  ".join(str(self.root / m) for m in missing[:10])
            more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise DatasetError(
                f"{len(missing)} video(s) named by the {self.name} split lists are not on disk:\n"
                f"  {shown}{more}\nCheck dataset.root ({self.root}) and the split files, or run "
                f"`python -m ucfbench.data.check dataset={self.name} dataset.root=...`."
            )

    @cached_property
    def _index(self) -> tuple[list[str], dict[str, list[VideoRecord]]]:
        classes, subsets = self._load()
        if "val" not in subsets:
            train, val = holdout_groups(subsets["train"], num_groups=self.val_groups, seed=self.seed)
            subsets = {"train": train, "val": val, "test": subsets["test"]}
        assert_disjoint(subsets, by_group=not self.leaky)
        return classes, subsets

    @property
    def classes(self) -> list[str]:
        return self._index[0]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, name: str) -> list[VideoRecord]:
        """The records of ``train``, ``val`` or ``test``."""
        if name not in SUBSETS:
            raise KeyError(f"unknown subset {name!r}; expected one of {SUBSETS}")
        return self._index[1][name]

    def records(self) -> list[VideoRecord]:
        """Every video of the protocol, sorted by path: the rows of the feature cache."""
        unique = {r.relpath: r for name in SUBSETS for r in self.subset(name)}
        return [unique[k] for k in sorted(unique)]

    def missing_files(self) -> list[str]:
        """Relative paths that the split lists name but the disk does not hold."""
        return [r.relpath for r in self.records() if not (self.root / r.relpath).is_file()]

    @property
    def pairs(self) -> list[dict]:
        """Groups of classes that only temporal order tells apart (synthetic data); else empty."""
        return []

    def fingerprint(self) -> str:
        """Hash of the file list (path, label, size, mtime): changes whenever the videos do."""
        h = hashlib.sha256()
        for r in self.records():
            st = (self.root / r.relpath).stat()
            h.update(json.dumps([r.relpath, r.label, st.st_size, st.st_mtime_ns]).encode())
        return h.hexdigest()

    def describe(self) -> dict:
        """Identity of this dataset and protocol, as written into ``metrics.json``."""
        return {"dataset": self.name, "split": self.split_name, "leaky": self.leaky}
