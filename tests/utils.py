"""Helpers shared by tests: tiny generated videos."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Brightness step between consecutive frames of `index_frames`; big enough to survive lossy coding.
INDEX_STEP = 8


def write_video(path: str | Path, frames: np.ndarray, fps: int = 25, codec: str = "mpeg4") -> Path:
    """Encode (T, H, W, 3) uint8 RGB ``frames`` to ``path`` with PyAV.

    The container follows the suffix (AVI for ``.avi``, MP4 for ``.mp4``). H and W must be even.
    The bit rate is high so decoded frames stay within a few grey levels of the input. MP4s get
    their index at the front (``faststart``), so a truncated copy still opens and claims every
    frame.
    """
    path = Path(path)
    assert frames.ndim == 4 and frames.shape[-1] == 3 and frames.dtype == np.uint8, frames.shape
    t, h, w, _ = frames.shape
    assert h % 2 == 0 and w % 2 == 0, f"yuv420p needs even sizes, got {h}x{w}"
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "faststart"} if path.suffix == ".mp4" else {}
    with av.open(str(path), mode="w", options=options) as container:
        # No scene-cut keyframes: keep real GOPs (I then P frames) so seeking is exercised.
        stream = container.add_stream(
            codec, rate=Fraction(fps), options={"sc_threshold": "1000000000"}
        )
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.bit_rate = max(4_000_000, h * w * fps * 8)
        stream.codec_context.gop_size = 12
        for image in frames:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))  # flush delayed packets
    return path


def index_frames(num_frames: int, height: int = 32, width: int = 48) -> np.ndarray:
    """(T, H, W, 3) grey frames whose brightness encodes the frame index (``k * INDEX_STEP``)."""
    assert num_frames * INDEX_STEP <= 256, "too many frames for a distinct brightness each"
    levels = (np.arange(num_frames) * INDEX_STEP).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, 3)).copy()


def decoded_index(frames: np.ndarray) -> np.ndarray:
    """Frame index read back from each decoded frame of an :func:`index_frames` video."""
    means = frames.reshape(len(frames), -1).mean(axis=1)
    return np.rint(means / INDEX_STEP).astype(np.int64)
