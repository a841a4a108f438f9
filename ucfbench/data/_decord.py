"""decord backend of :mod:`ucfbench.data.video`: random access with ``get_batch``.

Imported only when decord is installed (x86_64 wheels only).
"""

from __future__ import annotations

import re
from pathlib import Path

import decord
import numpy as np

from ucfbench.data.sampling import ClipSampler
from ucfbench.data.video import (
    VideoDecodeError,
    VideoInfo,
    VideoOpenError,
    center_crop,
    sample,
    scaled_size,
)

_SOURCE_PREFIX = re.compile(r"\[[\d:]+\] \S+:\d+: ")
_HINT = "re-encode the file (ffmpeg -i IN -c:v libx264 OUT.mp4) or drop it from the list"


def _reason(e: Exception) -> str:
    """First line of a decord error, without the ``[time] source.cc:line:`` prefixes it nests."""
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return _SOURCE_PREFIX.sub("", first).strip()[:300]


def _reader(path: Path, width: int = -1, height: int = -1) -> decord.VideoReader:
    try:
        # One thread per reader: DataLoader workers already use every core.
        return decord.VideoReader(
            str(path), ctx=decord.cpu(0), width=width, height=height, num_threads=1
        )
    except (decord.DECORDError, RuntimeError, AssertionError) as e:
        raise VideoOpenError(f"{path}: decord cannot open it ({_reason(e)})") from e


def _batch(path: Path, reader: decord.VideoReader, indices: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 frames at sorted, unique ``indices``."""
    try:
        batch = reader.get_batch(indices.tolist())
    except decord.DECORDError as e:
        if "DECORDArrayCopyFromTo" in str(e):
            # decord bug: frames of some small widths (e.g. 16, 24, 48, 72 px) have padded rows
            # that its copy rejects. Treated as "cannot open" so backend="auto" falls back.
            raise VideoOpenError(
                f"{path}: decord cannot output frames of this width (a decord row-padding bug); "
                "use backend='pyav'"
            ) from e
        raise VideoDecodeError(
            f"{path}: decord failed on frames {indices.min()}..{indices.max()} of {len(reader)} "
            f"({_reason(e)}); {_HINT}"
        ) from e
    # The caller may have switched decord's bridge (e.g. to torch); take plain numpy either way.
    return batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch)


def probe(path: Path) -> VideoInfo:
    reader = _reader(path)
    height, width = _batch(path, reader, np.zeros(1, dtype=np.int64)).shape[1:3]
    return VideoInfo(
        num_frames=len(reader), fps=float(reader.get_avg_fps()), width=width, height=height
    )


def read(
    path: Path, sampler: ClipSampler, size: int | None, rng: np.random.Generator | None
) -> tuple[np.ndarray, int]:
    reader = _reader(path)
    indices, length = sample(path, sampler, len(reader), rng)
    if size is not None:
        # decord scales in its filter graph but needs the displayed size up front, which only a
        # decoded frame tells (rotation metadata); decord's width/height are display dimensions.
        height, width = _batch(path, reader, np.zeros(1, dtype=np.int64)).shape[1:3]
        reader = _reader(path, *scaled_size(width, height, size))
    unique, inverse = np.unique(indices, return_inverse=True)
    frames = _batch(path, reader, unique)  # (U, H, W, 3)
    if size is not None:
        frames = center_crop(frames, size)
    return np.ascontiguousarray(frames[inverse]), length  # (T, H, W, 3)
