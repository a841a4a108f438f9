"""The contract every dataset implements: classes, one protocol's train / val / test lists.

Also the checks of ``dataset.root`` that turn a wrong path into an error saying which path to use instead.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

from ucfbench.data.splits import assert_disjoint, holdout_fraction, holdout_groups
from ucfbench.data.types import VideoRecord
from ucfbench.data.video import is_video
from ucfbench.utils.commands import command
from ucfbench.utils.errors import DatasetError

SUBSETS = ("train", "val", "test")
# What a dataset config declares for the other groups, which read it (docs/datasets.md): the frame
# size its videos call for (None: the backbone's own) and whether pretrained weights can help.
FACTS = ("frame_size", "pretrained_weights")


def _taking_facts(init: Callable) -> Callable:
    """A dataset's ``__init__`` that also takes the :data:`FACTS` and keeps them as attributes, so
    ``instantiate(cfg.dataset)`` builds the config as it is."""

    @functools.wraps(init)
    def init_with_facts(self: ActionDataset, *args: object, **kwargs: object) -> None:
        facts = {key: kwargs.pop(key) for key in FACTS if key in kwargs}
        init(self, *args, **kwargs)
        vars(self).update(facts)

    # The signature a reader sees (the check of added +dataset.<key>s) names the facts too.
    signature = inspect.signature(init)
    params = list(signature.parameters.values())
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None) for k in FACTS if k not in signature.parameters]
        init_with_facts.__signature__ = signature.replace(parameters=params)
    return init_with_facts


# -- file-system helpers -------------------------------------------------------------------
def _has_videos(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(e.is_file() and is_video(e.name) for e in entries)
    except OSError:
        return False


def _subdirs(folder: Path) -> list[Path]:
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if e.is_dir() and not e.name.startswith("."))


def find_folder(candidates: Sequence[Path], holds: Callable[[Path], bool], *, missing: str, fix: str) -> Path:
    """The first of ``candidates`` that ``holds`` what is looked for; else a :class:`DatasetError`
    saying what is ``missing``, every place looked and the ``fix``."""
    for folder in candidates:
        if holds(folder):
            return folder
    looked = "\n  ".join(str(c) for c in candidates)
    raise DatasetError(f"{missing}; looked in:\n  {looked}\n{fix}")


def check_root(root: Path, *, name: str, classes: Sequence[str] | None = None) -> None:
    """Raise :class:`DatasetError` unless ``root`` holds class folders (those in ``classes`` if given).

    Recognises the usual mistakes and names the path to use instead: ``root`` one level too high
    (it holds ``UCF-101/``, ``UCF50/``, ``hmdb51/``, ... with the class folders inside), one level
    too low (``root`` is itself a class folder), and HMDB51's per-class ``.rar`` files left packed.
    """
    if not root.is_dir():
        raise DatasetError(f"dataset.root {root} does not exist; set dataset.root=<the folder holding the "
                           f"{name} class folders>")

    def holds_classes(folder: Path) -> bool:
        if classes is not None:
            return any((folder / c).is_dir() for c in classes)
        return any(_has_videos(d) for d in _subdirs(folder))

    if holds_classes(root):
        return
    inner = [d for d in _subdirs(root) if holds_classes(d)]
    if inner:
        raise DatasetError(
            f"dataset.root {root} holds no {name} class folders, but {inner[0]} does: the root is one "
            f"level too high; set dataset.root={inner[0]}"
        )
    if _has_videos(root):
        raise DatasetError(
            f"dataset.root {root} holds videos itself: it looks like a single class folder; set "
            f"dataset.root={root.parent} (the folder holding one folder per class)"
        )
    if any(p.suffix.lower() == ".rar" for p in root.iterdir()):
        raise DatasetError(f"dataset.root {root} holds .rar archives but no class folders; extract each "
                           "archive there (`for f in *.rar; do unrar x \"$f\"; done`)")
    what = f"none of the {len(classes)} class folders the split files name" if classes is not None \
        else "no class folders with videos"
    raise DatasetError(f"dataset.root {root} has {what}; set dataset.root=<the folder holding the {name} "
                       "class folders>")


def check_class_folders(root: Path, classes: Sequence[str], *, source: Path) -> None:
    """Raise when ``source`` (a class list) and the folders under ``root`` disagree on names.

    Class folders that are merely absent are left to the missing-file check (a partial copy);
    absent ones *plus* folders the list does not name mean the list belongs to another dataset or
    a folder was renamed.
    """
    absent = [c for c in classes if not (root / c).is_dir()]
    known = set(classes)
    extra = [d.name for d in _subdirs(root) if d.name not in known and _has_videos(d)]
    if absent and extra:
        raise DatasetError(
            f"{source} does not match the class folders of {root}: it names {len(absent)} folder(s) that "
            f"are not there ({', '.join(absent[:5])}{', ...' if len(absent) > 5 else ''}) while "
            f"{len(extra)} folder(s) on disk are not in it ({', '.join(extra[:5])}"
            f"{', ...' if len(extra) > 5 else ''}). Rename the folders to match, or point "
            "dataset.splits_dir at the split files of this dataset."
        )


class ActionDataset(ABC):
    """A labelled video dataset under one evaluation protocol.

    Subclasses parse their split files (or list their folders) in :meth:`_load`; validation is
    carved out of the training videos here (by group, unless the protocol is leaky), so no
    protocol ever selects or early-stops on test. Indexing never opens a video and never raises
    on missing files: :meth:`missing_files` lists them and :meth:`prepare` refuses to go on.

    Args:
        root: folder that holds the class folders.
        val_groups: group numbers of the training split held out for validation.
        seed: chooses the validation videos.
        on_bad_video: what extraction does with a video that cannot be decoded: ``error`` stops
            with its name before anything is written for it; ``skip`` leaves it out and records it.
        val_fraction: share of each training class held out for validation where it is carved by
            fraction (leaky protocols, datasets without UCF group numbers).
    """

    name: str = "dataset"
    leaky: bool = False  # True where clips of one group can land in both train and test
    frame_size: int | None = None  # FACTS: every subclass's __init__ takes them
    pretrained_weights: bool = True

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in vars(cls):
            cls.__init__ = _taking_facts(cls.__init__)

    def __init__(
        self, *, root: str | Path, val_groups: int = 2, seed: int = 0, val_fraction: float = 0.1,
        on_bad_video: str = "error",
    ) -> None:
        if on_bad_video not in ("error", "skip"):
            raise ValueError(f"dataset.on_bad_video must be 'error' or 'skip', got {on_bad_video!r}")
        self.on_bad_video = on_bad_video
        self.root = Path(root).expanduser().resolve()
        self.val_groups = val_groups
        self.seed = seed
        self.val_fraction = val_fraction

    # -- to implement ---------------------------------------------------------------------
    @abstractmethod
    def _load(self) -> tuple[list[str], dict[str, list[VideoRecord]]]:
        """Return (class names, {"train": [...], "test": [...]}), reading split files only."""

    @property
    @abstractmethod
    def split_name(self) -> str:
        """Name of the protocol instance, e.g. ``split1`` or ``fold03``."""

    # -- may override ---------------------------------------------------------------------
    @property
    def grouped(self) -> bool:
        """Whether the protocol keeps every group on one side (checked on every split)."""
        return not self.leaky

    def _split_val(self, train: list[VideoRecord]) -> tuple[list[VideoRecord], list[VideoRecord]]:
        """Carve (train, val) out of the training videos: by group, or over clips if not grouped."""
        if not self.grouped:
            return holdout_fraction(train, fraction=self.val_fraction, seed=self.seed)
        return holdout_groups(train, num_groups=self.val_groups, seed=self.seed)

    def folds(self) -> list[ActionDataset]:
        """Every instance of this protocol (3 official splits, 25 folds, ...); empty if just one."""
        return []

    def empty_subset_message(self, name: str, subsets: dict[str, list[VideoRecord]]) -> str:
        """Why subset ``name`` came out empty, and the keys that fix it."""
        if name == "val":
            keys = "dataset.val_fraction" if not self.grouped else "dataset.val_groups (at least 1)"
            return (f"{self.name} ({self.split_name}) has no validation videos: the checkpoint is selected on "
                    f"validation, so a run cannot go on without one; raise {keys}")
        return (f"{self.name} ({self.split_name}) has no {name} videos under {self.root}; "
                "check dataset.root and the protocol settings")

    # -- shared behaviour -----------------------------------------------------------------
    def check_exists(self) -> None:
        """Cheap, before any work: raise :class:`DatasetError` if ``root`` is missing (a dataset
        that makes itself, like the synthetic one, overrides this)."""
        if not self.root.is_dir():
            check_root(self.root, name=self.name)

    def prepare(self) -> None:
        """Make the dataset ready (generate, check): raise :class:`DatasetError` if it is not."""
        missing = self.missing_files()
        if missing:
            shown = "\n  ".join(str(self.root / m) for m in missing[:10])
            more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise DatasetError(
                f"{len(missing)} video(s) named by the {self.name} split lists are not on disk:\n"
                f"  {shown}{more}\nCheck dataset.root ({self.root}) and the split files, or run "
                f"`{command('check', f'dataset={self.name}', 'dataset.root=...', quote=False)}`."
            )

    def variant(self, **attrs: object) -> ActionDataset:
        """A copy with ``attrs`` changed (e.g. another fold) that re-indexes; file listings are shared."""
        other = copy.copy(self)
        other.__dict__.pop("_index", None)
        for k, v in attrs.items():
            setattr(other, k, v)
        return other

    @cached_property
    def _index(self) -> tuple[list[str], dict[str, list[VideoRecord]]]:
        classes, subsets = self._load()
        for name in ("train", "test"):
            if not subsets.get(name):
                raise DatasetError(self.empty_subset_message(name, subsets))
        if "val" not in subsets:
            try:
                train, val = self._split_val(subsets["train"])
            except ValueError as err:  # more groups asked for validation than training has
                raise DatasetError(f"{self.name} ({self.split_name}): {err}") from None
            subsets = {"train": train, "val": val, "test": subsets["test"]}
        if not subsets["val"]:  # model selection needs one; never train selecting on nothing
            raise DatasetError(self.empty_subset_message("val", subsets))
        assert_disjoint(subsets, by_group=self.grouped)
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

    @property
    def protocol_name(self) -> str:
        """The protocol's name in results: ``official`` (numbered splits), ``logo``, ``random``, ..."""
        return "official"

    @property
    def split_number(self) -> int | None:
        """Which official split (1-3) this is, if the protocol has numbered splits."""
        split = getattr(self, "split", None)
        return int(split) if split is not None and self.protocol_name == "official" else None

    @property
    def fold_number(self) -> int | None:
        """Which leave-one-group-out fold this is, if the protocol has folds."""
        return None

    def describe(self) -> dict:
        """Identity of this dataset and protocol, as written into ``metrics.json``: ``protocol``,
        ``split`` and ``fold`` as fields (``split_name`` only names them for people)."""
        return {"dataset": self.name, "protocol": self.protocol_name, "split": self.split_number,
                "fold": self.fold_number, "split_name": self.split_name, "leaky": self.leaky}


class OfficialSplitsDataset(ActionDataset):
    """A dataset published with three numbered train / test splits in split files (UCF101, HMDB51).

    Args:
        split: official split 1, 2 or 3.
        splits_dir: folder of the split files; None: looked for inside or beside ``root``.
        **kwargs: :class:`ActionDataset`'s arguments.
    """

    def __init__(self, *, split: int = 1, splits_dir: str | Path | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if split not in (1, 2, 3):
            raise ValueError(f"dataset.split must be 1, 2 or 3, got {split}")
        self.split = split
        self.splits_dir = Path(splits_dir).expanduser().resolve() if splits_dir else None

    @property
    def split_name(self) -> str:
        return f"split{self.split}"

    def folds(self) -> list[ActionDataset]:
        return [self.variant(split=k) for k in (1, 2, 3)]

    def find_splits_dir(self, names: Sequence[str], holds: Callable[[Path], bool], *, missing: str, fix: str) -> Path:
        """``splits_dir``, else the first of ``names`` inside then beside ``root``, else ``root``, that ``holds``
        the split files; else raise naming what is wrong with ``root`` or every place looked at."""
        if self.splits_dir is not None:
            candidates = [self.splits_dir]
        else:
            candidates = [base / n for base in (self.root, self.root.parent) for n in names] + [self.root]
        try:
            return find_folder(candidates, holds, missing=missing, fix=fix)
        except DatasetError:
            check_root(self.root, name=self.name)  # a root one level off says so more precisely
            raise
