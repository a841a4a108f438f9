"""The synthetic dataset as a UCF101-layout dataset that generates itself when missing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

from ucfbench.data.synthetic import MANIFEST, SyntheticSpec, generate, is_generated
from ucfbench.data.types import VideoRecord
from ucfbench.data.ucf101 import UCF101


class SyntheticUCF101(UCF101):
    """Generated videos read through the UCF101 reader (same layout, same split files).

    Args:
        root: where the dataset lives (generated there if missing).
        spec: generator parameters (:class:`SyntheticSpec` fields).
        split: 1, 2 or 3 (group blocks held out for test, as UCF101).
        val_groups: training group numbers held out for validation.
        seed: chooses the validation groups.
    """

    name = "synthetic"

    def __init__(
        self,
        *,
        root: str | Path,
        spec: Mapping | SyntheticSpec | None = None,
        split: int = 1,
        val_groups: int = 2,
        seed: int = 0,
    ) -> None:
        super().__init__(root=root, split=split, splits_dir=root, val_groups=val_groups, seed=seed)
        if not isinstance(spec, SyntheticSpec):
            spec = dict(spec or {})
            if "classes" in spec:
                spec["classes"] = tuple(spec["classes"])
            spec = SyntheticSpec(**spec)
        self.spec = spec

    def _load(self) -> tuple[list[str], dict[str, list[VideoRecord]]]:
        if not is_generated(self.root, self.spec):
            generate(self.root, self.spec)  # atomic: a crash never leaves a half-made dataset
        return super()._load()

    @cached_property
    def pairs(self) -> list[dict]:
        self._index  # noqa: B018 - make sure the dataset (and its manifest) exists
        return json.loads((self.root / MANIFEST).read_text())["pairs"]
