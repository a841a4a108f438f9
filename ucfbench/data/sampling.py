"""Clip samplers: which frames of a video to decode.

Each sampler is a small frozen dataclass called as ``sampler(num_frames_in_video, rng)`` and returns
:class:`SampledIndices` with exactly ``num_frames`` int64 indices, non-decreasing, in
``[0, num_frames_in_video - 1]``. ``rng=None`` is the deterministic (evaluation) behaviour; passing
a ``np.random.Generator`` gives the random (training) behaviour. Hydra builds them from
``_target_``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ucfbench.data.types import SampledIndices

__all__ = ["ClipSampler", "MultiViewSampler", "SegmentSampler", "StrideSampler", "UniformSampler"]


class ClipSampler(Protocol):
    """Anything that picks frame indices for a video of ``num_frames_in_video`` frames."""

    def __call__(
        self, num_frames_in_video: int, rng: np.random.Generator | None = None
    ) -> SampledIndices: ...


def _check(num_frames_in_video: int) -> None:
    if num_frames_in_video <= 0:
        raise ValueError(
            f"cannot sample from a video with {num_frames_in_video} frames; "
            "the file is empty or its frame count could not be read"
        )


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")


def _segment_points(n: int, t: int, offsets: np.ndarray | float) -> np.ndarray:
    """Frame at fraction ``offsets`` (in [0, 1)) of each of ``t`` equal segments of ``n`` frames."""
    points = np.floor((np.arange(t) + offsets) * n / t).astype(np.int64)
    # Float rounding could land exactly on n for offsets close to 1.
    return np.minimum(points, n - 1)


@dataclass(frozen=True, kw_only=True)
class UniformSampler:
    """``num_frames`` frames spread over the whole video: the centre of each of T equal parts.

    Videos shorter than T frames get repeated frames; that is a valid resampling, so
    ``length == T``. The rng is ignored: the choice is always deterministic.
    """

    num_frames: int = 32

    def __post_init__(self) -> None:
        _check_positive("num_frames", self.num_frames)

    def __call__(
        self, num_frames_in_video: int, rng: np.random.Generator | None = None
    ) -> SampledIndices:
        _check(num_frames_in_video)
        return SampledIndices(
            _segment_points(num_frames_in_video, self.num_frames, 0.5), self.num_frames
        )


@dataclass(frozen=True, kw_only=True)
class StrideSampler:
    """A contiguous clip of ``num_frames`` frames taken every ``stride`` frames.

    Eval (no rng) centres the clip in the video; train starts it at a uniformly random frame. When
    the video is shorter than the clip's span, every ``stride``-th frame from 0 is taken and the
    last one repeated up to T; ``length`` then counts only the real frames.
    """

    num_frames: int = 16
    stride: int = 2

    def __post_init__(self) -> None:
        _check_positive("num_frames", self.num_frames)
        _check_positive("stride", self.stride)

    @property
    def span(self) -> int:
        """Number of video frames the clip covers, first to last inclusive."""
        return (self.num_frames - 1) * self.stride + 1

    def __call__(
        self, num_frames_in_video: int, rng: np.random.Generator | None = None
    ) -> SampledIndices:
        _check(num_frames_in_video)
        n, t = num_frames_in_video, self.num_frames
        steps = np.arange(t, dtype=np.int64) * self.stride
        if n >= self.span:
            slack = n - self.span
            start = slack // 2 if rng is None else int(rng.integers(0, slack + 1))
            return SampledIndices(start + steps, t)
        real = np.arange(0, n, self.stride, dtype=np.int64)  # fewer than T frames
        padded = np.concatenate([real, np.full(t - len(real), real[-1], dtype=np.int64)])
        return SampledIndices(padded, len(real))


@dataclass(frozen=True, kw_only=True)
class SegmentSampler(UniformSampler):
    """TSN-style sampling: T equal segments, one frame from each.

    Train picks a uniformly random frame in each segment, eval its centre frame (the frames of
    :class:`UniformSampler`, whose checks it shares). Videos shorter than T repeat frames; ``length == T``.
    """

    num_frames: int = 8

    def __call__(
        self, num_frames_in_video: int, rng: np.random.Generator | None = None
    ) -> SampledIndices:
        _check(num_frames_in_video)
        # A continuous offset per segment keeps every pick inside its own segment, so indices stay
        # sorted even when segments are shorter than one frame.
        offsets = 0.5 if rng is None else rng.random(self.num_frames)
        return SampledIndices(
            _segment_points(num_frames_in_video, self.num_frames, offsets), self.num_frames
        )


@dataclass(frozen=True, kw_only=True)
class MultiViewSampler:
    """``num_views`` evaluation clips of one video in a single decode (test-time view averaging).

    View ``k`` is ``base``'s deterministic choice shifted to the ``k``-th of ``num_views`` evenly
    spaced positions: for :class:`StrideSampler` clip starts spread from the first to the last
    possible start, for segment-style samplers the offset inside each segment. One view is
    ``base``'s own evaluation choice. Returns the views' indices concatenated in view order
    (``num_views * T``, not sorted: :func:`ucfbench.data.clips.read_clip` reads them), and the length of a view.
    """

    base: object
    num_views: int = 1

    def __post_init__(self) -> None:
        _check_positive("num_views", self.num_views)

    @property
    def num_frames(self) -> int:
        return self.num_views * int(self.base.num_frames)  # type: ignore[attr-defined]

    def view(self, num_frames_in_video: int, k: int) -> SampledIndices:
        """Indices of view ``k``."""
        base, v = self.base, self.num_views
        if v == 1:
            return base(num_frames_in_video, None)
        _check(num_frames_in_video)
        if isinstance(base, StrideSampler) and num_frames_in_video >= base.span:
            start = round(k * (num_frames_in_video - base.span) / (v - 1))
            return SampledIndices(start + np.arange(base.num_frames, dtype=np.int64) * base.stride, base.num_frames)
        if isinstance(base, UniformSampler):  # SegmentSampler too: its eval frames are these
            t = base.num_frames
            return SampledIndices(_segment_points(num_frames_in_video, t, (k + 0.5) / v), t)
        return base(num_frames_in_video, None)  # a short video, or an unknown sampler: the one clip

    def __call__(self, num_frames_in_video: int, rng: np.random.Generator | None = None) -> SampledIndices:
        views = [self.view(num_frames_in_video, k) for k in range(self.num_views)]
        return SampledIndices(np.concatenate([v.indices for v in views]), min(v.length for v in views))
