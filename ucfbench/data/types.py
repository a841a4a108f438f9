"""Plain data types shared by every dataset, reader and model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, TypedDict

import numpy as np
import torch


@dataclass(frozen=True)
class VideoRecord:
    """One video of a dataset.

    Attributes:
        relpath: path relative to the dataset root, with forward slashes (``Class/v_Class_g01_c01.avi``).
        label: 0-based class index.
        group: the group the video was cut from (UCF's ``gNN``); videos of one group share scene
            and actor, so protocols keep a group on one side of a split. ``-1`` when unknown.
        clip: clip number within the group (UCF's ``cMM``); ``-1`` when unknown.
    """

    relpath: str
    label: int
    group: int = -1
    clip: int = -1

    def path(self, root: str | Path) -> Path:
        return Path(root) / self.relpath


class SampledIndices(NamedTuple):
    """Frame indices chosen by a sampler.

    Attributes:
        indices: (T,) int64 frame indices into the decoded video, already padded to T by
            repeating frames when the video is too short.
        length: number of leading steps that are real (not padding); ``<= T``.
    """

    indices: np.ndarray
    length: int


class Batch(TypedDict):
    """The one batch format every dataset yields.

    Keys:
        x: (B, T, D) cached features, or (B, T, 3, H, W) ImageNet-normalised float frames for
            end-to-end models; (B, V, T, ...) when each video comes as V clips (test views).
        lengths: (B,) number of valid time steps per sample; steps past it are padding.
        label: (B,) int64 class index.
        index: (B,) int64 position of the video in its split's record list.
    """

    x: torch.Tensor
    lengths: torch.Tensor
    label: torch.Tensor
    index: torch.Tensor
