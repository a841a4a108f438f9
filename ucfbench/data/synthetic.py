"""The synthetic dataset as a UCF101-layout dataset that generates itself when missing.

``protocol="split"`` (default) holds out whole groups, as UCF101's official splits do;
``protocol="random"`` splits the same videos at random over clips (``test_fraction``, seeded), the
leaky scheme some papers use: clips of one group, which share background and object appearance,
then land in train and test, and the gap between the two protocols' scores is the leak.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

from ucfbench.data.base import ActionDataset
from ucfbench.data.splits import holdout_fraction
from ucfbench.data.synthetic_videos import MANIFEST, SyntheticSpec, generate, is_generated
from ucfbench.data.types import VideoRecord
from ucfbench.data.ucf101 import UCF101


class SyntheticUCF101(UCF101):
    """Generated videos read through the UCF101 reader (same layout, same split files).

    Args:
        root: where the dataset lives (generated there if missing).
        spec: generator parameters (:class:`SyntheticSpec` fields).
        split: 1, 2 or 3 (group blocks held out for test, as UCF101).
        val_groups: training group numbers held out for validation.
        seed: chooses the validation groups (and the ``random`` split).
        protocol: ``split`` (groups held out) or ``random`` (over clips; leaky).
        test_fraction: ``random`` protocol: share of each class's clips tested.
        val_fraction: ``random`` protocol: share of the training clips used for validation.
    """

    name = "synthetic"
    # SlideLeft is SlideRight mirrored: a horizontal flip would change the class.
    hflip_preserves_labels = False

    def __init__(
        self,
        *,
        root: str | Path,
        spec: Mapping | SyntheticSpec | None = None,
        split: int = 1,
        val_groups: int = 2,
        seed: int = 0,
        protocol: str = "split",
        test_fraction: float = 0.3,
        val_fraction: float = 0.1,
        on_bad_video: str = "error",
    ) -> None:
        super().__init__(
            root=root, split=split, splits_dir=root, val_groups=val_groups, seed=seed, on_bad_video=on_bad_video
        )
        if protocol not in ("split", "random"):
            raise ValueError(f"dataset.protocol must be 'split' or 'random', got {protocol!r}")
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"dataset.test_fraction must be in (0, 1), got {test_fraction}")
        self.protocol = protocol
        self.test_fraction = test_fraction
        self.val_fraction = val_fraction
        self.leaky = protocol == "random"
        if not isinstance(spec, SyntheticSpec):
            spec = dict(spec or {})
            if "classes" in spec:
                spec["classes"] = tuple(spec["classes"])
            spec = SyntheticSpec(**spec)
        self.spec = spec

    @property
    def split_name(self) -> str:
        return "random" if self.protocol == "random" else super().split_name

    def check_exists(self) -> None:
        """Nothing to check: a missing dataset is generated when the data is prepared."""

    @property
    def protocol_name(self) -> str:
        return "random" if self.protocol == "random" else "official"

    def folds(self) -> list[ActionDataset]:
        return [] if self.protocol == "random" else super().folds()

    def _load(self) -> tuple[list[str], dict[str, list[VideoRecord]]]:
        if not is_generated(self.root, self.spec):
            generate(self.root, self.spec)  # atomic: a crash never leaves a half-made dataset
        classes, subsets = super()._load()
        if self.protocol == "random":
            videos = sorted(subsets["train"] + subsets["test"], key=lambda r: r.relpath)
            train, test = holdout_fraction(videos, fraction=self.test_fraction, seed=self.seed)
            subsets = {"train": train, "test": test}
        return classes, subsets

    @cached_property
    def pairs(self) -> list[dict]:
        self._index  # noqa: B018 - make sure the dataset (and its manifest) exists
        return json.loads((self.root / MANIFEST).read_text())["pairs"]
