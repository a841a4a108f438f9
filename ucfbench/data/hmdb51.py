"""HMDB51 read from its official three splits (``testTrainMulti_7030_splits``).

Each class has one file per split, ``<class>_test_split<k>.txt``, with lines ``<video> <code>``:
code 1 = train, 2 = test, 0 = not used by that split (70 / 30 videos per class are used).

HMDB51 has no UCF-style groups, but several clips are cut from one source movie and share its
actors and scenes. Names follow ``<source>_<class>_<body>_<camera>_<people>_<view>_<quality>_<n>``
(``April_09_brush_hair_u_nm_np1_ba_goo_0.avi``): the source is everything before ``_<class>_``
when the attribute suffix matches (it does for all 6,766 listed videos). Within a class the
official splits never put one source on both sides, so a record's ``group`` numbers its
(class, source) pair and train / test are checked to be group-disjoint. Validation is carved
from the training videos by whole source movies across all classes, so it never shares a source
video with train; names that do not parse are their own group (a stratified split).
"""

from __future__ import annotations

import re
from pathlib import Path

from ucfbench.data.base import DatasetError, OfficialSplitsDataset, check_class_folders, check_root
from ucfbench.data.splits import holdout_fraction
from ucfbench.data.types import VideoRecord

SPLIT_DIR_NAME = "testTrainMulti_7030_splits"
CODES = {"1": "train", "2": "test", "0": None}
_ATTRS = re.compile(r"_[a-z]+_(?:cm|nm)_np\d+_(?:fr|ba|le|ri)_(?:bad|med|goo)_\d+\.[A-Za-z0-9]+$")


def source_of(relpath: str) -> str | None:
    """Source movie of an HMDB51 video ``<class>/<name>``, or None when the name does not parse."""
    cls, _, name = relpath.rpartition("/")
    match = _ATTRS.search(name)
    if match is None or not name[: match.start()].endswith(f"_{cls}"):
        return None
    return name[: match.start() - len(cls) - 1]


def read_hmdb_splits(folder: Path, split: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Classes (sorted) and ``(relpath, "train" | "test" | None)`` of every listed video of ``split``."""
    suffix = f"_test_split{split}.txt"
    files = sorted(folder.glob(f"*{suffix}"))
    if not files:
        raise DatasetError(f"{folder} holds no *{suffix} files; check dataset.splits_dir and dataset.split")
    classes, rows = [], []
    for path in files:
        cls = path.name[: -len(suffix)]
        classes.append(cls)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in CODES:
                raise DatasetError(f"{path}:{n}: expected '<video> <0|1|2>', got {line.strip()!r}")
            rows.append((f"{cls}/{parts[0]}", CODES[parts[1]]))
    return classes, rows


class HMDB51(OfficialSplitsDataset):
    """HMDB51 under its official three 70/30 splits.

    Args:
        root: the folder holding the 51 class folders (each ``.rar`` of the archive extracted).
        split: official split 1, 2 or 3.
        splits_dir: folder with ``<class>_test_split<k>.txt``; by default
            ``testTrainMulti_7030_splits/`` inside or beside ``root``, or ``root`` itself.
        val_fraction: share of each class's training videos held out for validation, by source movie.
        seed: chooses the validation source movies.
    """

    name = "hmdb51"

    def __init__(
        self,
        *,
        root: str | Path,
        split: int = 1,
        splits_dir: str | Path | None = None,
        val_fraction: float = 0.15,
        seed: int = 0,
        on_bad_video: str = "error",
    ) -> None:
        super().__init__(root=root, split=split, splits_dir=splits_dir, seed=seed, val_fraction=val_fraction,
                         on_bad_video=on_bad_video)

    def _load(self) -> tuple[list[str], dict[str, list[VideoRecord]]]:
        folder = self.find_splits_dir(
            [SPLIT_DIR_NAME], lambda f: f.is_dir() and any(f.glob("*_test_split1.txt")),
            missing="no HMDB51 split files (*_test_split1.txt) found",
            fix=f"Download test_train_splits.rar from the HMDB51 page, extract it, and set dataset.splits_dir to the "
                f"{SPLIT_DIR_NAME} folder.")
        classes, rows = read_hmdb_splits(folder, self.split)
        check_root(self.root, name=self.name, classes=classes)
        check_class_folders(self.root, classes, source=folder)
        index = {c: i for i, c in enumerate(classes)}
        # Group ids over every listed video (the same list in each split): stable across splits.
        keys = sorted({(p.split("/", 1)[0], source_of(p) or f"\0{p}") for p, _ in rows})
        group = {k: i for i, k in enumerate(keys)}
        subsets: dict[str, list[VideoRecord]] = {"train": [], "test": []}
        for relpath, subset in rows:
            if subset is None:
                continue
            cls = relpath.split("/", 1)[0]
            key = (cls, source_of(relpath) or f"\0{relpath}")
            subsets[subset].append(VideoRecord(relpath=relpath, label=index[cls], group=group[key]))
        return classes, subsets

    def _split_val(self, train: list[VideoRecord]) -> tuple[list[VideoRecord], list[VideoRecord]]:
        # Whole source movies across classes: a movie in val has no clip of any class in train.
        return holdout_fraction(train, fraction=self.val_fraction, seed=self.seed,
                                key=lambda r: source_of(r.relpath) or r.relpath)
