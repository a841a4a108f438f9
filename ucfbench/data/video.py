"""Read sampled frames of a video file, with PyAV or decord.

The default backend is PyAV, chosen by measurement (``benchmarks/decode.py``, figures in
``docs/benchmarks.md``), although the project design started out preferring decord. On one core,
reading 32 uniformly sampled frames from UCF101's 320x240 xvid AVIs, PyAV matches the ffmpeg CLI's
bare decode (about 1.0x its frames per CPU second) and decord reaches about 0.35x. PyAV decodes as
fast as ffmpeg and converts (and scales) only the frames it keeps; in decord a ``get_batch`` of 32
of ~120 frames costs over 80% of one of every frame, so skipped frames pay nearly full price.
PyAV also flags frames the decoder had to conceal (``is_corrupt``), so damaged data raises instead
of being returned; decord returns them silently. decord stays available as ``backend="decord"``
and as the fallback where PyAV cannot open a file.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from ucfbench.data.sampling import ClipSampler

# What counts as a video file, for dataset folders, predict's videos= and the demo's upload.
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".m4v")


def is_video(name: str) -> bool:
    """A visible file name with a video extension (any case)."""
    return not name.startswith(".") and name.lower().endswith(VIDEO_EXTENSIONS)

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "VideoDecodeError",
    "VideoInfo",
    "VideoOpenError",
    "decord_available",
    "probe",
    "read_frames",
]

log = logging.getLogger(__name__)

BACKENDS = ("pyav", "decord")
DEFAULT_BACKEND = "pyav"


class VideoDecodeError(RuntimeError):
    """A video could not be read; the message names the file, what went wrong and what to do."""


class VideoOpenError(VideoDecodeError):
    """A backend could not open a file at all (``backend="auto"`` then tries the other one)."""


@dataclass(frozen=True)
class VideoInfo:
    """Stream metadata. ``width`` and ``height`` are as displayed (after any rotation metadata).

    ``num_frames`` comes from the container and can exceed the decodable frames of a damaged file.
    """

    num_frames: int
    fps: float
    width: int
    height: int

    @property
    def duration(self) -> float:
        """Length in seconds (0 when the frame rate is unknown)."""
        return self.num_frames / self.fps if self.fps > 0 else 0.0


@functools.cache
def decord_available() -> bool:
    """Whether decord is installed (it ships wheels for x86_64 only)."""
    return importlib.util.find_spec("decord") is not None


def scaled_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) scaled so that the short side is ``size``, keeping the aspect ratio."""
    short = min(width, height)
    return max(size, round(width * size / short)), max(size, round(height * size / short))


def center_crop(frames: np.ndarray, size: int) -> np.ndarray:
    """Centre ``size`` x ``size`` crop of (..., H, W, C) frames (a view, no copy)."""
    h, w = frames.shape[-3:-1]
    top, left = (h - size) // 2, (w - size) // 2
    return frames[..., top : top + size, left : left + size, :]


def sample(
    path: Path, sampler: ClipSampler, num_frames: int, rng: np.random.Generator | None
) -> tuple[np.ndarray, int]:
    """Run ``sampler`` for a video of ``num_frames`` frames and check its contract."""
    if num_frames <= 0:
        raise VideoDecodeError(
            f"{path}: the container reports no frames; re-encode or drop the file"
        )
    indices, length = sampler(num_frames, rng)
    indices = np.asarray(indices, dtype=np.int64)
    if indices.ndim != 1 or len(indices) == 0 or indices.min() < 0 or indices.max() >= num_frames:
        raise ValueError(f"{sampler!r} returned indices outside [0, {num_frames}): {indices}")
    if np.any(np.diff(indices) < 0):  # both backends decode forward once
        raise ValueError(f"{sampler!r} returned indices that are not sorted: {indices}")
    return indices, length


def _backend_module(name: str) -> ModuleType:
    if name == "decord" and not decord_available():
        raise ImportError(
            "backend='decord' needs the decord package, which ships wheels for x86_64 only; "
            "install it or use backend='pyav' (or 'auto')"
        )
    return importlib.import_module(f"ucfbench.data._{name}")


def _backend_order(backend: str) -> list[str]:
    if backend == "auto":
        order = [DEFAULT_BACKEND, *(b for b in BACKENDS if b != DEFAULT_BACKEND)]
        return [b for b in order if b != "decord" or decord_available()]
    if backend not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; use one of {BACKENDS} or 'auto'")
    return [backend]


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise VideoDecodeError(
            f"{path}: file not found; check the dataset root and the split lists"
        )
    if path.stat().st_size == 0:
        raise VideoDecodeError(
            f"{path}: empty file (0 bytes); re-download it or drop it from the list"
        )


def _run(path: str | Path, backend: str, call: str, *args: object) -> object:
    """Call ``call`` on each backend in order, falling back only when one cannot open the file."""
    path = Path(path)
    order = _backend_order(backend)  # validate the name before touching the file
    _check_file(path)
    errors: list[tuple[str, VideoOpenError]] = []
    for i, name in enumerate(order):
        try:
            return getattr(_backend_module(name), call)(path, *args)
        except VideoOpenError as e:
            errors.append((name, e))
            if i + 1 < len(order):
                log.warning("%s; falling back to %s", e, order[i + 1])
    if len(errors) == 1:
        raise errors[0][1]
    reasons = "; ".join(str(e).removeprefix(f"{path}: ") for _, e in errors)
    raise VideoOpenError(f"{path}: no backend can open it ({reasons})") from errors[-1][1]


def probe(path: str | Path, *, backend: str = "auto") -> VideoInfo:
    """Frame count, frame rate and size of a video, from its metadata (no full decode).

    Raises:
        VideoDecodeError: the file is missing, empty, or not a readable video.
    """
    return _run(path, backend, "probe")  # type: ignore[return-value]


def read_frames(
    path: str | Path,
    sampler: ClipSampler,
    *,
    size: int | None = None,
    backend: str = "auto",
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, int]:
    """Decode the frames ``sampler`` picks from a video.

    Args:
        path: the video file.
        sampler: called with the container's frame count and ``rng``.
        size: if given, scale so the short side is ``size`` and centre-crop to ``size`` x ``size``.
        backend: ``"pyav"``, ``"decord"`` or ``"auto"`` (the default backend, then the other one
            for files it cannot open).
        rng: passed to the sampler; ``None`` gives its deterministic (evaluation) choice.

    Returns:
        (T, H, W, 3) uint8 RGB frames, and the number of leading real (non-padding) frames.

    Raises:
        VideoDecodeError: the file is missing, empty, not a video, fails to decode, or has fewer
            decodable frames than the sampled indices need. No partial or concealed frames are
            ever returned.
    """
    if size is not None and size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    return _run(path, backend, "read", sampler, size, rng)  # type: ignore[return-value]
