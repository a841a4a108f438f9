"""PyAV backend of :mod:`ucfbench.data.video`: decode in order, convert only the kept frames."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from ucfbench.data.sampling import ClipSampler
from ucfbench.data.video import (
    REENCODE_HINT,
    VideoDecodeError,
    VideoInfo,
    VideoOpenError,
    center_crop,
    sample,
    scaled_size,
)

_INTERPOLATION = Interpolation.BILINEAR
_local = threading.local()


@contextmanager
def _open(path: Path) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    try:
        container = av.open(str(path), metadata_errors="replace")
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise VideoOpenError(f"{path}: pyav cannot open it ({e})") from e
    try:
        if not container.streams.video:
            raise VideoOpenError(f"{path}: pyav finds no video stream in it")
        stream = container.streams.video[0]
        # One thread per reader: DataLoader workers already use every core.
        stream.thread_type = "SLICE"
        stream.codec_context.thread_count = 1
        yield container, stream
    finally:
        container.close()


def _frame_count(path: Path, stream: av.video.stream.VideoStream) -> int:
    """Frames per the container header; Matroska and raw streams lack it, so count packets then."""
    if stream.frames > 0:
        return stream.frames
    with _open(path) as (container, vstream):
        try:
            return sum(1 for packet in container.demux(vstream) if packet.size)
        except av.error.FFmpegError as e:
            raise VideoDecodeError(f"{path}: cannot count its frames ({e}); {REENCODE_HINT}") from e


def _decoded(
    path: Path, container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[av.VideoFrame]:
    """Frames in presentation order; a decoder error raises :class:`VideoDecodeError`."""
    k = 0
    try:
        for frame in container.decode(stream):
            yield frame
            k += 1
    except av.error.FFmpegError as e:
        raise VideoDecodeError(f"{path}: decoding failed after {k} frames ({e}); {REENCODE_HINT}") from e


def _quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that display the frame upright (PyAV < 13 cannot tell: 0)."""
    rotation = getattr(frame, "rotation", 0) or 0
    return round(rotation / 90) % 4


def _rgb_view(frame: av.VideoFrame) -> np.ndarray:
    """(H, W, 3) view of an rgb24 frame's pixels (no copy, unlike ``to_ndarray``)."""
    plane = frame.planes[0]
    rows = np.frombuffer(plane, dtype=np.uint8).reshape(frame.height, plane.line_size)
    return rows[:, : frame.width * 3].reshape(frame.height, frame.width, 3)


class _Converter:
    """Decoded frame -> (H, W, 3) uint8 RGB view, upright, scaled and cropped if ``size`` is given.

    Uses this thread's two reformatters, whose swscale contexts then stay set up from frame to frame
    and video to video; ``frame.to_ndarray(format=...)`` builds a new one per frame, which costs
    more than converting a small frame.
    """

    def __init__(self, size: int | None) -> None:
        self.size = size
        if not hasattr(_local, "reformatters"):
            _local.reformatters = (VideoReformatter(), VideoReformatter())
        self._scale, self._rgb = _local.reformatters

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        # The display matrix rotation, as ffmpeg's autorotate applies it; read before
        # scaling, which drops the frame's side data.
        quarter_turns = _quarter_turns(frame)
        if self.size is not None:
            # Scale in the decoder's own pixel format, then convert: scaling straight to rgb24 takes
            # swscale's slow generic path, 3-5x the time of planar scaling plus its fast unscaled
            # YUV->RGB path (the one full-size frames take). Chroma stays at half resolution, as
            # in the source, so output differs from an RGB-first scaler's by ~1-2 grey levels on average.
            # The short side is the same before and after rotation, so scaling the stored frame is
            # right for both orientations.
            width, height = scaled_size(frame.width, frame.height, self.size)
            frame = self._scale.reformat(
                frame, width=width, height=height, interpolation=_INTERPOLATION
            )
        image = _rgb_view(self._rgb.reformat(frame, format="rgb24"))
        if self.size is not None:
            image = center_crop(image, self.size)
        return np.rot90(image, quarter_turns) if quarter_turns else image


def probe(path: Path) -> VideoInfo:
    with _open(path) as (container, stream):
        num_frames = _frame_count(path, stream)
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        width, height = stream.codec_context.width, stream.codec_context.height
        # PyAV exposes the rotation only on frames, so peek at the first one (a keyframe: cheap).
        first = next(_decoded(path, container, stream), None)
        if first is None:
            raise VideoDecodeError(f"{path}: pyav decodes no frame from it; {REENCODE_HINT}")
        if _quarter_turns(first) % 2:
            width, height = height, width
    return VideoInfo(num_frames=num_frames, fps=fps, width=width, height=height)


def read(
    path: Path, sampler: ClipSampler, size: int | None, rng: np.random.Generator | None
) -> tuple[np.ndarray, int]:
    with _open(path) as (container, stream):
        num_frames = _frame_count(path, stream)
        indices, length = sample(path, sampler, num_frames, rng)
        to_rgb = _Converter(size)
        out: np.ndarray | None = None
        j, k = 0, -1  # next slot to fill; index of the current decoded frame
        for k, frame in enumerate(_decoded(path, container, stream)):
            if indices[j] != k:
                continue  # decoded for reference only: skip the costly RGB conversion
            if frame.is_corrupt:
                raise VideoDecodeError(
                    f"{path}: frame {k} is damaged (the decoder concealed errors in it); {REENCODE_HINT}"
                )
            image = to_rgb(frame)
            if out is None:
                out = np.empty((len(indices), *image.shape), dtype=np.uint8)
            while j < len(indices) and indices[j] == k:  # repeated indices share one conversion
                out[j] = image  # the one copy out of the frame's buffer
                j += 1
            if j == len(indices):
                return out, length
    raise VideoDecodeError(
        f"{path}: only {k + 1} frames decode but frame {indices[j]} was requested (the container "
        f"claims {num_frames}); the file is probably truncated; {REENCODE_HINT}"
    )
