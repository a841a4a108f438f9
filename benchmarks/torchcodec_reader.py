"""A TorchCodec reader with the project reader's contract, for the decoder benchmarks (not the suite's).

``frame_exact.py`` measures it against ffmpeg and PyAV; ``gpu.py`` decodes on the GPU with it
(``device="cuda"``, NVDEC). It is no backend of :mod:`ucfbench.data.video`: on UCF101's xvid AVIs it
returns neighbouring frames, and frames past a truncation (``docs/benchmarks.md``). TorchCodec loads
the system's FFmpeg libraries (4-8): ``apt-get install ffmpeg`` besides ``uv run --with torchcodec``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchcodec.decoders import VideoDecoder
from torchcodec.transforms import Resize

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


def decoder(path: Path, size: tuple[int, int] | None = None, device: str = "cpu") -> VideoDecoder:
    """A decoder of ``path``'s first video stream; ``size`` (width, height) scales in FFmpeg's filter."""
    transforms = [Resize(size=(size[1], size[0]))] if size is not None else None
    try:
        # One thread per reader: DataLoader workers already use every core. "exact" scans the file
        # once for its frame index, as decord does; "approximate" trusts the header's frame rate.
        return VideoDecoder(str(path), dimension_order="NHWC", num_ffmpeg_threads=1, seek_mode="exact",
                            transforms=transforms, device=device)
    except (RuntimeError, ValueError) as e:
        raise VideoOpenError(f"{path}: torchcodec cannot open it ({str(e).strip().splitlines()[0][:300]})") from e


def _display_size(decoder: VideoDecoder) -> tuple[int, int]:
    """(width, height) as displayed: the header's, swapped for a quarter-turn rotation."""
    meta = decoder.metadata
    width, height = meta.width, meta.height
    if round((meta.rotation or 0) / 90) % 2:
        width, height = height, width
    return width, height


def probe(path: Path) -> VideoInfo:
    dec = decoder(path)
    meta = dec.metadata
    width, height = _display_size(dec)
    return VideoInfo(num_frames=int(meta.num_frames or 0), fps=float(meta.average_fps or 0), width=width,
                     height=height)


def frames_at(path: Path, decoder: VideoDecoder, indices: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 frames at sorted ``indices``, on the decoder's device."""
    try:
        return decoder.get_frames_at(indices.tolist()).data
    except (RuntimeError, IndexError, ValueError) as e:
        raise VideoDecodeError(
            f"{path}: torchcodec failed on frames {indices.min()}..{indices.max()} of "
            f"{decoder.metadata.num_frames} ({str(e).strip().splitlines()[0][:300]}); {REENCODE_HINT}"
        ) from e


def read(
    path: Path, sampler: ClipSampler, size: int | None, rng: np.random.Generator | None
) -> tuple[np.ndarray, int]:
    dec = decoder(path)
    indices, length = sample(path, sampler, int(dec.metadata.num_frames or 0), rng)
    if size is not None:
        dec = decoder(path, scaled_size(*_display_size(dec), size))
    frames = frames_at(path, dec, indices).numpy()
    if size is not None:
        frames = center_crop(frames, size)
    return np.ascontiguousarray(frames), length
