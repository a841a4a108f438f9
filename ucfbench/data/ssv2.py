"""Something-Something v2 read from its official JSON files.

The download's ``labels/`` folder holds ``labels.json`` (``{"Pushing something from left to right":
"93", ...}``, the 174 classes and their indices), ``train.json`` and ``validation.json`` (lists of
``{"id", "label", "template", "placeholders"}``; ``template`` is the class with its placeholders in
brackets, ``"Pushing [something] from left to right"``, ``label`` the same text filled in by the
crowd worker). The videos are one flat folder of ``<id>.webm`` files (``20bn-something-something-v2/``).

Class names are the keys of ``labels.json`` (the template without brackets) in the official index
order, so class ``k`` here is class ``k`` in every other SSv2 codebase. The official validation set
is the test split, as papers report it (the official test set has no labels). SSv2 publishes no
worker or group ids, so validation is a seeded stratified fraction of the training videos
(:func:`holdout_fraction`): no group leak can be controlled; a crowd worker filmed many videos, so
one worker may appear in both train and val, and validation accuracy may run a little above test.

``pairs`` names temporally opposite classes (opening / closing, moving up / down, ...): their
within-pair accuracy is the synthetic set's order test on real video. ``classes="pairs"`` keeps
only the classes of the pairs, relabelled 0..K-1 in pair order.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from functools import cache, cached_property
from pathlib import Path

from ucfbench.data.base import ActionDataset, DatasetError, find_folder
from ucfbench.data.splits import holdout_fraction
from ucfbench.data.types import VideoRecord

VIDEO_DIR_NAME = "20bn-something-something-v2"
# Files of the labels folder: Qualcomm's names, then 20BN's original prefixed names.
LABEL_FILES = {
    "labels": ("labels.json", "something-something-v2-labels.json"),
    "train": ("train.json", "something-something-v2-train.json"),
    "test": ("validation.json", "something-something-v2-validation.json"),
}
PAIRS_SOURCE = "conf/dataset/ssv2.yaml (dataset.pairs), or your override of it"


@cache  # 193,690 entries share 174 templates
def template_class(template: str) -> str:
    """Class name of a template: ``"Putting [something] onto [something]"`` -> ``"Putting something onto something"``."""
    return re.sub(r"\s+", " ", template.replace("[", "").replace("]", "")).strip()


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON ({e}); download the labels again") from e


def _plain(value: object) -> object:
    """Hydra's list / dict configs as plain lists and dicts (pickles, prints, compares as data)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def read_labels(path: Path) -> list[str]:
    """Parse ``labels.json`` (``{class: "index"}``) into the class list in index order."""
    raw = _read_json(path)
    if not isinstance(raw, dict) or not raw:
        raise DatasetError(f"{path}: expected an object {{class name: \"index\"}}, got {type(raw).__name__}")
    entries: dict[int, str] = {}
    for name, index in raw.items():
        if not str(index).isdigit():
            raise DatasetError(f"{path}: index {index!r} of {name!r} is not a number")
        if int(index) in entries:
            raise DatasetError(f"{path}: index {index} is given to {entries[int(index)]!r} and {name!r}")
        entries[int(index)] = template_class(name)
    if sorted(entries) != list(range(len(entries))):
        raise DatasetError(f"{path}: class indices must run 0..N-1 without gaps")
    return [entries[i] for i in range(len(entries))]


def read_annotations(path: Path, classes: Sequence[str]) -> list[tuple[str, int]]:
    """Parse ``train.json`` / ``validation.json`` into ``(video id, class index)`` pairs."""
    raw = _read_json(path)
    if not isinstance(raw, list):
        raise DatasetError(f"{path}: expected a list of {{\"id\", \"template\", ...}}, got {type(raw).__name__}")
    index = {name: i for i, name in enumerate(classes)}
    rows, seen = [], set()
    for n, entry in enumerate(raw):
        if not isinstance(entry, dict) or "id" not in entry or "template" not in entry:
            raise DatasetError(f"{path}: entry {n} has no \"id\" and \"template\": {str(entry)[:120]}")
        video, name = str(entry["id"]), template_class(str(entry["template"]))
        if name not in index:
            raise DatasetError(f"{path}: entry {n} (id {video}): template {entry['template']!r} is not a class "
                               "of labels.json; the files come from different releases")
        if video in seen:
            raise DatasetError(f"{path}: video id {video} is listed twice")
        seen.add(video)
        rows.append((video, index[name]))
    return rows


def resolve_pairs(pairs: Sequence[Mapping], classes: Sequence[str], *, labels: Path) -> list[dict]:
    """Check the configured pairs against the class list: ``[{"kind", "classes": [a, b]}]`` with names
    as in ``labels.json`` (brackets, if written, removed). Raise naming the key that is wrong."""
    known = set(classes)
    out = []
    for i, pair in enumerate(pairs):
        key = f"dataset.pairs[{i}]"
        if not isinstance(pair, Mapping) or not isinstance(pair.get("kind"), str) or "classes" not in pair:
            raise DatasetError(f"{key} in {PAIRS_SOURCE}: expected {{kind: <name>, classes: [<class>, <class>]}}, "
                               f"got {pair!r}")
        names = pair["classes"]
        if isinstance(names, str) or not isinstance(names, Sequence) or len(names) != 2:
            raise DatasetError(f"{key}.classes in {PAIRS_SOURCE}: expected two class names, got {names!r}")
        resolved = []
        for j, name in enumerate(names):
            cls = template_class(str(name))
            if cls not in known:
                close = difflib.get_close_matches(cls, classes, n=2)
                hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
                raise DatasetError(f"{key}.classes[{j}] in {PAIRS_SOURCE}: {name!r} is not a class of {labels}{hint}")
            if "/" in cls:  # results name a pair "A/B"
                raise DatasetError(f"{key}.classes[{j}]: {name!r} contains '/', which pair names cannot hold")
            resolved.append(cls)
        if resolved[0] == resolved[1]:
            raise DatasetError(f"{key}.classes in {PAIRS_SOURCE}: a class cannot pair with itself ({resolved[0]!r})")
        out.append({"kind": pair["kind"], "classes": resolved})
    return out


class SSv2(ActionDataset):
    """Something-Something v2: official train / validation lists, validation used as test.

    Args:
        root: the folder of ``<id>.webm`` videos (``20bn-something-something-v2/``).
        labels_dir: folder with ``labels.json``, ``train.json``, ``validation.json``; by default
            ``labels/`` inside or beside ``root``, or ``root`` itself or its parent.
        classes: ``all`` (174 classes) or ``pairs`` (only the classes of ``pairs``, relabelled 0..K-1).
        pairs: ``[{"kind": ..., "classes": [a, b]}, ...]``, class names from ``labels.json``.
        extension: file suffix of the videos (``webm``, or ``mp4`` for a transcoded copy).
        val_fraction: share of each class's training videos held out for validation.
        seed: chooses the validation videos.
    """

    name = "ssv2"
    # "Pushing something from left to right" flipped is "... from right to left".
    hflip_preserves_labels = False

    def __init__(
        self,
        *,
        root: str | Path,
        labels_dir: str | Path | None = None,
        classes: str = "all",
        pairs: Sequence[Mapping] = (),
        extension: str = "webm",
        val_fraction: float = 0.05,
        seed: int = 0,
        on_bad_video: str = "error",
    ) -> None:
        super().__init__(root=root, seed=seed, val_fraction=val_fraction, on_bad_video=on_bad_video)
        if classes not in ("all", "pairs"):
            raise ValueError(f"dataset.classes must be 'all' or 'pairs', got {classes!r}")
        if classes == "pairs" and not pairs:
            raise ValueError("dataset.classes=pairs needs dataset.pairs (conf/dataset/ssv2.yaml lists them)")
        self.class_subset = classes
        self.configured_pairs = _plain(list(pairs))
        self.extension = extension.lstrip(".")
        self.labels_dir = Path(labels_dir).expanduser().resolve() if labels_dir else None

    @property
    def split_name(self) -> str:
        return "official" if self.class_subset == "all" else "official_pairs"

    @property
    def protocol_name(self) -> str:
        return self.split_name  # the pairs subset has other classes: its own table in a report

    @property
    def grouped(self) -> bool:
        return False  # no group ids are published: train / val / test are disjoint by video only

    def find_labels_dir(self) -> Path:
        """Locate the folder holding ``labels.json``; raise with the places looked at."""
        if self.labels_dir is not None:
            candidates = [self.labels_dir]
        else:
            candidates = [self.root / "labels", self.root.parent / "labels", self.root, self.root.parent]
        return find_folder(candidates, lambda f: any((f / name).is_file() for name in LABEL_FILES["labels"]),
                           missing="no SSv2 labels.json found",
                           fix="Download the labels archive from the Something-Something v2 page, extract it, and "
                               "set dataset.labels_dir to the folder holding labels.json, train.json and "
                               "validation.json.")

    def _label_file(self, folder: Path, what: str) -> Path:
        for name in LABEL_FILES[what]:
            if (folder / name).is_file():
                return folder / name
        raise DatasetError(f"{folder / LABEL_FILES[what][0]} is missing; the labels archive holds "
                           f"{', '.join(names[0] for names in LABEL_FILES.values())}")

    def _relpath(self, video: str) -> str:
        return f"{video}.{self.extension}"

    def _check_root(self, ids: Sequence[str]) -> None:
        """Raise when ``root`` is not the videos folder but names the one to use, if it can see it."""
        if not self.root.is_dir():
            raise DatasetError(f"dataset.root {self.root} does not exist; set dataset.root=<the folder of "
                               f"SSv2 .{self.extension} videos ({VIDEO_DIR_NAME}/)>")
        probe = ids[:20]
        if any((self.root / self._relpath(v)).is_file() for v in probe):
            return
        inner = self.root / VIDEO_DIR_NAME
        if inner.is_dir() and any((inner / self._relpath(v)).is_file() for v in probe):
            raise DatasetError(f"dataset.root {self.root} holds no listed video, but {inner} does: the root is "
                               f"one level too high; set dataset.root={inner}")
        # Otherwise the files are simply absent: missing_files() lists them, prepare() refuses.

    @cached_property
    def _annotations(self) -> tuple[Path, list[str], dict[str, list[tuple[str, int]]]]:
        """(labels.json path, all 174 class names, {"train" | "test": [(id, class index)]}), parsed once."""
        if self.labels_dir is None and not self.root.is_dir():
            self._check_root([])
        folder = self.find_labels_dir()
        labels = self._label_file(folder, "labels")
        names = read_labels(labels)
        rows = {s: read_annotations(self._label_file(folder, s), names) for s in ("train", "test")}
        return labels, names, rows

    def _load(self) -> tuple[list[str], dict[str, list[VideoRecord]]]:
        labels, names, rows = self._annotations
        both = {v for v, _ in rows["train"]} & {v for v, _ in rows["test"]}
        if both:
            raise DatasetError(f"{len(both)} video id(s) are in both train.json and validation.json "
                               f"(e.g. {sorted(both)[0]}); the label files are corrupt")
        self._check_root([v for v, _ in rows["test"]] + [v for v, _ in rows["train"]])
        pairs = resolve_pairs(self.configured_pairs, names, labels=labels)
        if self.class_subset == "pairs":  # relabel 0..K-1, pair members next to each other
            kept = list(dict.fromkeys(c for p in pairs for c in p["classes"]))
            relabel = {names.index(c): k for k, c in enumerate(kept)}
            classes = kept
        else:
            relabel = {i: i for i in range(len(names))}
            classes = names
        subsets = {
            s: [VideoRecord(relpath=self._relpath(v), label=relabel[c]) for v, c in rows[s] if c in relabel]
            for s in ("train", "test")
        }
        self._pairs = pairs
        return classes, subsets

    def _split_val(self, train: list[VideoRecord]) -> tuple[list[VideoRecord], list[VideoRecord]]:
        return holdout_fraction(train, fraction=self.val_fraction, seed=self.seed)

    @property
    def pairs(self) -> list[dict]:
        self._index  # noqa: B018 - the pairs are checked against labels.json while indexing
        return self._pairs

    def describe(self) -> dict:
        # No "seed": metrics.json's seed is the run's (dataset.seed stays in the saved config).
        return {**super().describe(), "class_subset": self.class_subset, "val_fraction": self.val_fraction}
