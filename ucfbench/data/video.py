"""Read sampled frames of a video file, with PyAV.

PyAV is the reader by measurement (``benchmarks/frame_exact.py``, ``benchmarks/decode.py``; figures
in ``docs/benchmarks.md``): it alone returned exactly ffmpeg's frames at the requested indices on
every shared real clip and every generated odd encoding (TorchCodec returns neighbouring frames on
AVIs with B-frames, UCF101's xvid originals among them, and frames past a truncation; decord cannot
open raw MPEG-4 streams and misplaces frames of B-frame xvid), and it decodes about as fast as the
ffmpeg CLI, converting (and scaling) only the frames it keeps. It also flags frames the decoder had
to conceal (``is_corrupt``), so damaged data raises instead of being returned.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from ucfbench.data.sampling import ClipSampler
from ucfbench.utils.errors import UserError

# What counts as a video file, for dataset folders, predict's videos= and the demo's upload.
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".m4v")


def is_video(name: str) -> bool:
    """A visible file name with a video extension (any case)."""
    return not name.startswith(".") and name.lower().endswith(VIDEO_EXTENSIONS)

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "REENCODE_HINT",
    "VideoDecodeError",
    "VideoInfo",
    "VideoOpenError",
    "probe",
    "read_frames",
]

BACKENDS = ("pyav",)
REENCODE_HINT = "re-encode the file (ffmpeg -i IN -c:v libx264 OUT.mp4) or drop it from the list"  # ends decode errors
DEFAULT_BACKEND = "pyav"  # what ``"auto"`` (the configs' default, and part of cache keys) reads with


class VideoDecodeError(UserError, RuntimeError):
    """A video could not be read; the message names the file, what went wrong and what to do."""


class VideoOpenError(VideoDecodeError):
    """A backend could not open a file at all (not a video, or a format it does not read)."""


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
    if np.any(np.diff(indices) < 0):  # readers decode forward once
        raise ValueError(f"{sampler!r} returned indices that are not sorted: {indices}")
    return indices, length


def _backend_module(backend: str) -> ModuleType:
    """The reader module of ``backend`` (``"auto"``: the default one)."""
    name = DEFAULT_BACKEND if backend == "auto" else backend
    if name not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; use one of {BACKENDS} or 'auto'")
    return importlib.import_module(f"ucfbench.data._{name}")


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
    """Call ``call`` of ``backend``'s reader on ``path``."""
    path = Path(path)
    module = _backend_module(backend)  # validate the name before touching the file
    _check_file(path)
    return getattr(module, call)(path, *args)


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
        backend: ``"pyav"`` or ``"auto"`` (the default backend, PyAV).
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
