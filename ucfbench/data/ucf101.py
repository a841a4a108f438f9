"""UCF101 (and anything laid out like it) read from the official split lists."""

from __future__ import annotations

from pathlib import Path

from ucfbench.data.base import DatasetError, OfficialSplitsDataset, check_class_folders, check_root
from ucfbench.data.splits import parse_ucf_name
from ucfbench.data.types import VideoRecord

SPLIT_DIR_NAMES = ("ucfTrainTestlist", "UCF101TrainTestSplits-RecognitionTask/ucfTrainTestlist")


def _read_lines(path: Path) -> list[str]:
    # The official lists have CRLF line endings and a trailing blank line.
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_class_ind(path: Path) -> list[str]:
    """Parse ``classInd.txt`` (``"1 ApplyEyeMakeup"``, 1-based) into a 0-based class list."""
    entries: dict[int, str] = {}
    for n, line in enumerate(_read_lines(path), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DatasetError(f"{path}:{n}: expected '<index> <ClassName>', got {line!r}")
        entries[int(parts[0])] = parts[1]
    if sorted(entries) != list(range(1, len(entries) + 1)):
        raise DatasetError(f"{path}: class indices must run 1..N without gaps, got {sorted(entries)}")
    return [entries[i] for i in range(1, len(entries) + 1)]


def read_split_list(path: Path, classes: list[str]) -> list[VideoRecord]:
    """Parse a ``trainlist0N.txt`` / ``testlist0N.txt`` into records.

    The label comes from the class folder (test lists carry none); a train list's 1-based label,
    where present, must agree with it.
    """
    index = {name: i for i, name in enumerate(classes)}
    records, seen = [], set()
    for n, line in enumerate(_read_lines(path), 1):
        relpath, *label = line.split()
        relpath = relpath.replace("\\", "/")
        folder = relpath.split("/", 1)[0] if "/" in relpath else ""
        if folder not in index:
            raise DatasetError(
                f"{path}:{n}: class folder {folder!r} of {relpath!r} is not in classInd.txt; "
                "the split files do not belong to this dataset (check dataset.splits_dir)"
            )
        if label and (len(label) != 1 or not label[0].isdigit() or int(label[0]) - 1 != index[folder]):
            raise DatasetError(
                f"{path}:{n}: label {' '.join(label)!r} of {relpath!r} disagrees with classInd.txt "
                f"({folder} = {index[folder] + 1})"
            )
        parsed = parse_ucf_name(relpath)
        if parsed is None:  # the group decides the split and validation: it must be known
            raise DatasetError(
                f"{path}:{n}: {relpath!r} is not a UCF name (v_<Class>_gNN_cMM.<ext>), so its group is "
                "unknown; fix the list, or use dataset=folder for other layouts"
            )
        if relpath in seen:
            raise DatasetError(f"{path}:{n}: {relpath!r} is listed twice")
        seen.add(relpath)
        records.append(VideoRecord(relpath=relpath, label=index[folder], group=parsed[1], clip=parsed[2]))
    return records


class UCF101(OfficialSplitsDataset):
    """UCF101 under its official three train/test splits.

    Args:
        root: the extracted ``UCF-101/`` folder (class folders inside).
        split: official split 1, 2 or 3.
        splits_dir: folder with ``classInd.txt`` and the lists; by default looked for inside
            ``root``, beside it (``ucfTrainTestlist/``), or in ``root`` itself.
        val_groups: training group numbers held out for validation.
        seed: chooses the validation groups.
    """

    name = "ucf101"

    def __init__(
        self,
        *,
        root: str | Path,
        split: int = 1,
        splits_dir: str | Path | None = None,
        val_groups: int = 3,
        seed: int = 0,
        on_bad_video: str = "error",
    ) -> None:
        super().__init__(root=root, split=split, splits_dir=splits_dir, val_groups=val_groups, seed=seed,
                         on_bad_video=on_bad_video)

    def _load(self) -> tuple[list[str], dict[str, list[VideoRecord]]]:
        if not self.root.is_dir():
            check_root(self.root, name=self.name)  # raises, naming what dataset.root must hold
        folder = self.find_splits_dir(
            SPLIT_DIR_NAMES, lambda f: (f / "classInd.txt").is_file(), missing=f"no classInd.txt for {self.name} found",
            fix="Download the official split files (UCF101TrainTestSplits-RecognitionTask.zip) and set "
                "dataset.splits_dir to the folder that holds classInd.txt.")
        classes = read_class_ind(folder / "classInd.txt")
        check_root(self.root, name=self.name, classes=classes)
        check_class_folders(self.root, classes, source=folder / "classInd.txt")
        subsets = {}
        for subset, stem in (("train", "trainlist"), ("test", "testlist")):
            path = folder / f"{stem}{self.split:02d}.txt"
            if not path.is_file():
                raise DatasetError(f"split file {path} is missing; check dataset.splits_dir")
            subsets[subset] = read_split_list(path, classes)
        return classes, subsets
