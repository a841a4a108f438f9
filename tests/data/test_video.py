"""Video reading on generated clips (frame k has brightness k * INDEX_STEP) and on real files."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from tests.utils import decoded_index, index_frames, write_video
from ucfbench.data import video
from ucfbench.data.sampling import SegmentSampler, StrideSampler, UniformSampler
from ucfbench.data.types import SampledIndices
from ucfbench.data.video import VideoDecodeError, VideoInfo, probe, read_frames

BACKENDS = ["pyav", "auto"]
SHARED_DATA = Path(__file__).resolve().parents[2] / "../shared/data"
REAL_CLIPS = SHARED_DATA / "real_clips"


@dataclass(frozen=True)
class FixedSampler:
    """Returns the given indices whatever the video length (to probe exact frames)."""

    indices: tuple[int, ...]

    def __call__(self, num_frames_in_video: int, rng=None) -> SampledIndices:
        return SampledIndices(np.array(self.indices, dtype=np.int64), len(self.indices))


@pytest.fixture(scope="module", params=["avi", "mp4"])
def index_video(request, tmp_path_factory) -> Path:
    """30 frames, 64x96 (H x W), 25 fps, GOPs of 12."""
    path = tmp_path_factory.mktemp("videos") / f"index.{request.param}"
    return write_video(path, index_frames(30, height=64, width=96))


@pytest.fixture(scope="module")
def real_clips() -> Path:
    if not REAL_CLIPS.is_dir():
        pytest.skip(f"real clips not found at {REAL_CLIPS.resolve()}")
    return REAL_CLIPS


@pytest.mark.parametrize("backend", BACKENDS)
def test_probe(index_video, backend):
    info = probe(index_video, backend=backend)
    assert info == VideoInfo(num_frames=30, fps=25.0, width=96, height=64)
    assert info.duration == pytest.approx(1.2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "indices",
    [(0,), (29,), (0, 1, 2, 3), (3, 3, 3, 17), (0, 11, 12, 13, 24, 29), (5, 25, 25, 29, 29)],
)
def test_returns_the_requested_frames(index_video, backend, indices):
    frames, length = read_frames(index_video, FixedSampler(indices), backend=backend)
    assert frames.shape == (len(indices), 64, 96, 3) and frames.dtype == np.uint8
    assert frames.flags.c_contiguous
    assert length == len(indices)
    assert decoded_index(frames).tolist() == list(indices)
    expected = index_frames(30, 64, 96)[list(indices)].astype(int)
    assert np.abs(frames.astype(int) - expected).max() <= 3  # lossy codec


@pytest.mark.parametrize("backend", BACKENDS)
def test_samplers_end_to_end(index_video, backend):
    frames, length = read_frames(index_video, UniformSampler(num_frames=8), backend=backend)
    assert decoded_index(frames).tolist() == UniformSampler(num_frames=8)(30).indices.tolist()
    rng = np.random.default_rng(0)
    sampler = SegmentSampler(num_frames=5)
    expected = sampler(30, np.random.default_rng(0)).indices
    frames, _ = read_frames(index_video, sampler, backend=backend, rng=rng)
    assert decoded_index(frames).tolist() == expected.tolist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_short_video_is_padded(tmp_path, backend):
    path = write_video(tmp_path / "short.avi", index_frames(9, 64, 96))
    frames, length = read_frames(path, StrideSampler(num_frames=16, stride=2), backend=backend)
    assert frames.shape[0] == 16 and length == 5
    assert decoded_index(frames).tolist() == [0, 2, 4, 6, 8] + [8] * 11
    frames, length = read_frames(path, UniformSampler(num_frames=32), backend=backend)
    assert length == 32 and sorted(set(decoded_index(frames))) == list(range(9))


@pytest.mark.parametrize("backend", BACKENDS)
def test_resize_and_centre_crop(tmp_path, backend):
    # 64x128: black quarter, white half, black quarter; the 40x40 centre crop of the 40x80 scaled
    # frame sees white only (bar a pixel of blur at its edges).
    frames = np.zeros((6, 64, 128, 3), dtype=np.uint8)
    frames[:, :, 32:96] = 255
    path = write_video(tmp_path / "bands.mp4", frames)
    out, _ = read_frames(path, UniformSampler(num_frames=4), size=40, backend=backend)
    assert out.shape == (4, 40, 40, 3) and out.flags.c_contiguous
    assert out[:, :, 2:-2].min() > 230
    # Upscaling works too, and portrait frames crop vertically.
    path = write_video(tmp_path / "portrait.avi", index_frames(6, 96, 64))
    out, _ = read_frames(path, UniformSampler(num_frames=3), size=80, backend=backend)
    assert out.shape == (3, 80, 80, 3)
    assert decoded_index(out).tolist() == [1, 3, 5]


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncated_file_raises_past_its_decodable_frames(tmp_path, backend):
    """The MP4 index (written first) claims 30 frames; only about half survive the cut."""
    data = write_video(tmp_path / "full.mp4", index_frames(30, 64, 96)).read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(VideoDecodeError, match="truncated.mp4"):
        read_frames(path, UniformSampler(num_frames=8), backend=backend)


def test_pyav_refuses_concealed_frames(tmp_path):
    """A cut through a frame's data decodes with error concealment; pyav flags it and we raise."""
    data = write_video(tmp_path / "full.avi", index_frames(30, 64, 96)).read_bytes()
    path = tmp_path / "cut.avi"
    for percent in range(80, 60, -5):  # the first cut (from 80%) that lands inside a frame's data
        path.write_bytes(data[: len(data) * percent // 100])
        with av.open(str(path)) as container:
            flags = [frame.is_corrupt for frame in container.decode(video=0)]
        if True in flags:
            break
    assert True in flags, "no cut of the test video left a concealed frame"
    bad = flags.index(True)
    frames, _ = read_frames(path, FixedSampler((0, bad - 1)), backend="pyav")
    assert decoded_index(frames).tolist() == [0, bad - 1]
    with pytest.raises(VideoDecodeError, match=f"cut.avi: frame {bad} is damaged"):
        read_frames(path, FixedSampler((0, bad)), backend="pyav")


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_files_raise_naming_the_file(tmp_path, backend):
    empty = tmp_path / "empty.avi"
    empty.touch()
    text = tmp_path / "notes.avi"
    text.write_text("this is not a video\n" * 50)
    for path in (empty, text, tmp_path / "missing.avi"):
        with pytest.raises(VideoDecodeError, match=path.name):
            read_frames(path, UniformSampler(), backend=backend)
        with pytest.raises(VideoDecodeError, match=path.name):
            probe(path, backend=backend)


def test_unknown_backend_and_bad_size(index_video):
    with pytest.raises(ValueError, match="backend"):
        read_frames(index_video, UniformSampler(), backend="opencv")
    with pytest.raises(ValueError, match="size"):
        read_frames(index_video, UniformSampler(), size=0)


def test_bad_sampler_output_raises(index_video):
    with pytest.raises(ValueError, match="sorted"):
        read_frames(index_video, FixedSampler((5, 2)))
    with pytest.raises(ValueError, match="outside"):
        read_frames(index_video, FixedSampler((0, 30)))


def test_auto_is_pyav(monkeypatch, index_video):
    from ucfbench.data import _pyav

    calls = []
    monkeypatch.setattr(_pyav, "read", lambda *args: calls.append(args) or (np.zeros((1, 2, 2, 3), np.uint8), 1))
    read_frames(index_video, UniformSampler(num_frames=1), backend="auto")
    assert len(calls) == 1


# Real files (../shared/data beside the repository).


@pytest.mark.parametrize("backend", BACKENDS)
def test_corrupted_mp4(real_clips, backend):
    """Declares 50 frames; h264 decoding fails after 28."""
    path = real_clips / "odd/corrupted.mp4"
    assert probe(path, backend=backend).num_frames == 50
    frames, _ = read_frames(path, FixedSampler((0, 14, 27)), backend=backend)
    assert frames.shape == (3, 720, 1280, 3)
    for indices in [(28,), (0, 30), (49,)]:
        with pytest.raises(VideoDecodeError, match="corrupted.mp4"):
            read_frames(path, FixedSampler(indices), backend=backend)
    with pytest.raises(VideoDecodeError, match="corrupted.mp4"):
        read_frames(path, UniformSampler(num_frames=8), backend=backend)


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("ucf101/v_ApplyEyeMakeup_g01_c01.avi", (240, 320)),
        ("ucf101/v_BaseballPitch_g01_c01.avi", (240, 320)),
        ("ucf101/v_Basketball_g01_c01.avi", (240, 320)),
        ("ucf101/v_PushUps_g02_c03.avi", (240, 320)),
        ("hmdb51/DefensivePistolShootingTechniques_shoot_gun_f_nm_np1_fr_med_3.mp4", (256, 340)),
        ("hmdb51/Fellowship_4_talk_u_nm_np1_fr_med_0.mp4", (256, 374)),
        ("odd/flipping_a_pancake.mkv", (240, 426)),  # Matroska: no frame count in the header
        ("odd/unordered.mov", (50, 50)),  # B-frames, packets out of display order; all white
        ("odd/video_90.mov", (568, 320)),  # stored 568x320, rotated 90 degrees for display
    ],
)
def test_real_clips(real_clips, name, shape):
    """Every backend reads them, at full size and 112 px, and the backends agree closely."""
    path = real_clips / name
    info = probe(path)
    assert (info.height, info.width) == shape
    for size in (None, 112):
        frames, _ = read_frames(path, UniformSampler(num_frames=16), size=size)
        assert frames.shape == (16, *((size, size) if size else shape), 3)


def _ffmpeg_frames(path: Path) -> np.ndarray:
    """Every frame the ffmpeg CLI decodes, displayed upright: (N, H, W, 3) uint8."""
    info = probe(path)
    raw = subprocess.run(["ffmpeg", "-loglevel", "quiet", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, timeout=120, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, info.height, info.width, 3)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg CLI (scripts/test installs it)")
def test_default_backend_is_frame_exact_on_every_real_clip(real_clips):
    """The frames read_frames returns are ffmpeg's at the requested indices: each is closer to that
    ffmpeg frame than to any other, and within the colour converters' difference of it."""
    files = sorted(p for p in real_clips.rglob("*") if p.is_file() and video.is_video(p.name)
                   and p.name != "corrupted.mp4")  # damaged: raises (test_corrupted_mp4)
    assert len(files) >= 9
    for path in files:
        reference = _ffmpeg_frames(path)[:, ::2, ::2].astype(np.float32)
        for sampler in (UniformSampler(num_frames=32), StrideSampler(num_frames=16, stride=2)):
            indices = sampler(probe(path).num_frames).indices
            frames, _ = read_frames(path, sampler)
            for k, frame in zip(indices, frames[:, ::2, ::2].astype(np.float32)):
                mae = np.abs(reference - frame).mean(axis=(1, 2, 3))
                assert mae[k] <= 2.0 and mae[k] <= mae.min() + 0.5, (path.name, k, int(mae.argmin()), mae[k])
