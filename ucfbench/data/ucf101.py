"""UCF101 (and anything laid out like it) read from the official split lists."""

from __future__ import annotations

from pathlib import Path

from ucfbench.data.base import ActionDataset, DatasetError
from ucfbench.data.splits import parse_ucf_name
from ucfbench.data.types import VideoRecord

SPLIT_DIR_NAMES = ("ucfTrainTestlist", "UCF101TrainTestSplits-RecognitionTask/ucfTrainTestlist")


def _read_lines(path: Path) -> list[str]:
    # The official lists have CRLF line endings and a trailing blank line.
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


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
    records = []
    for n, line in enumerate(_read_lines(path), 1):
        relpath, *label = line.split()
        relpath = relpath.replace("\\", "/")
        folder = relpath.split("/", 1)[0]
        if folder not in index:
            raise DatasetError(
                f"{path}:{n}: class folder {folder!r} of {relpath!r} is not in classInd.txt; "
                "the split files do not belong to this dataset"
            )
        if label and int(label[0]) - 1 != index[folder]:
            raise DatasetError(
                f"{path}:{n}: label {label[0]} of {relpath!r} disagrees with classInd.txt "
                f"({folder} = {index[folder] + 1})"
            )
        parsed = parse_ucf_name(relpath)
        group, clip = (parsed[1], parsed[2]) if parsed else (-1, -1)
        records.append(VideoRecord(relpath=relpath, label=index[folder], group=group, clip=clip))
    return records


class UCF101(ActionDataset):
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
    ) -> None:
        super().__init__(root=root, val_groups=val_groups, seed=seed)
        if split not in (1, 2, 3):
            raise ValueError(f"dataset.split must be 1, 2 or 3, got {split}")
        self.split = split
        self.splits_dir = Path(splits_dir).expanduser().resolve() if splits_dir else None

    @property
    def split_name(self) -> str:
        return f"split{self.split}"

    def find_splits_dir(self) -> Path:
        """Locate the folder holding ``classInd.txt``; raise with the places looked at."""
        if self.splits_dir is not None:
            candidates = [self.splits_dir]
        else:
            candidates = [self.root / d for d in SPLIT_DIR_NAMES]
            candidates += [self.root.parent / d for d in SPLIT_DIR_NAMES] + [self.root]
        for folder in candidates:
            if (folder / "classInd.txt").is_file():
                return folder
        looked = "\n  ".join(str(c) for c in candidates)
        raise DatasetError(
            f"no classInd.txt for {self.name} found; looked in:\n  {looked}\n"
            "Download the official split files (UCF101TrainTestSplits-RecognitionTask.zip) and "
            "set dataset.splits_dir to the folder that holds classInd.txt."
        )

    def _load(self) -> tuple[list[str], dict[str, list[VideoRecord]]]:
        if not self.root.is_dir():
            raise DatasetError(f"dataset.root {self.root} does not exist; set dataset.root=...")
        folder = self.find_splits_dir()
        classes = read_class_ind(folder / "classInd.txt")
        subsets = {}
        for subset, stem in (("train", "trainlist"), ("test", "testlist")):
            path = folder / f"{stem}{self.split:02d}.txt"
            if not path.is_file():
                raise DatasetError(f"split file {path} is missing; check dataset.splits_dir")
            subsets[subset] = read_split_list(path, classes)
        return classes, subsets
