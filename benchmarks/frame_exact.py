"""Frame-exactness of the video readers against the ffmpeg CLI, and their speed with the project's samplers.

For every file and reader: the frames ``read_frames`` returns for ``UniformSampler(32)`` (features)
and a centred ``StrideSampler(16, 2)`` (clips), at the file's own size, are compared with every
frame ``ffmpeg -fps_mode passthrough`` decodes. A returned frame is *exact* when the ffmpeg frame
at its requested index is the closest of all (mean absolute difference, ties allowed, within 3 grey
levels: decoders of different FFmpeg builds and colour converters differ by 1-2). ``off`` lists the
index offsets of inexact frames (``-1``: the previous frame). A file the reader refuses counts as
``raises``, which is the right answer only for a damaged file.

Speed: source frames decoded per CPU second for each sampler, one thread, best of ``--repeats``.

    uv run python benchmarks/frame_exact.py --generate /tmp/clips   # odd encodings, made with ffmpeg
    uv run --with torchcodec==0.17.0 --with decord==0.6.0 python benchmarks/frame_exact.py \
        ../shared/data/real_clips /tmp/clips --backends pyav torchcodec decord

(``--with decord2==3.4.0`` instead measures decord2, which installs the same ``decord`` module.)
The frame count a reader samples from is its own (``frames`` against ``ffmpeg_frames`` in the JSON).

Needs the ffmpeg and ffprobe CLIs (``apt-get install ffmpeg``). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # torchcodec_reader

from ucfbench.data.sampling import StrideSampler, UniformSampler  # noqa: E402
from ucfbench.data.video import VideoDecodeError, is_video, read_frames  # noqa: E402

SAMPLERS = {"uniform32": UniformSampler(num_frames=32), "stride16x2": StrideSampler(num_frames=16, stride=2)}
TOLERANCE = 3.0  # grey levels of mean absolute difference still counted as the same frame

# Encodings that readers have been seen to get wrong: (file name, ffmpeg output options).
GENERATED = {
    "xvid_bframes.avi": "-s 320x240 -r 25 -t 6 -c:v mpeg4 -vtag xvid -bf 2 -q:v 4",
    "mpeg4_raw.m4v": "-s 320x240 -r 25 -t 6 -c:v mpeg4 -q:v 4 -f m4v",
    "h264_bframes.avi": "-s 640x360 -r 30 -t 4 -c:v libx264 -bf 3 -pix_fmt yuv420p",
    "h264_1080p.avi": "-s 1920x1080 -r 30 -t 3 -c:v libx264 -bf 3 -preset ultrafast -pix_fmt yuv420p",
    "h264_bframes.mp4": "-s 320x240 -r 25 -t 5 -c:v libx264 -bf 2 -pix_fmt yuv420p",
    "h264_vfr.mkv": "-s 320x240 -t 5 -c:v libx264 -pix_fmt yuv420p -fps_mode vfr -vf setpts='PTS+0.02*random(0)/TB'",
    "vp9.webm": "-s 320x240 -r 25 -t 5 -c:v libvpx-vp9 -b:v 300k",
}


def _pyav(path: Path, sampler) -> tuple[np.ndarray, int]:
    """The project's reader; (frames, frame count it sampled from)."""
    from ucfbench.data.video import probe

    return read_frames(path, sampler)[0], probe(path).num_frames


def _torchcodec(path: Path, sampler) -> tuple[np.ndarray, int]:
    """TorchCodec 0.17's exact-seek CPU decoder (``torchcodec_reader.py``; needs FFmpeg's libraries)."""
    import torchcodec_reader

    return torchcodec_reader.read(path, sampler, None, None)[0], torchcodec_reader.probe(path).num_frames


def _decord(path: Path, sampler) -> tuple[np.ndarray, int]:
    """decord's (or decord2's, which installs the same module) ``get_batch`` on one thread."""
    import decord

    try:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
        indices = np.asarray(sampler(len(reader), None)[0])
        unique, inverse = np.unique(indices, return_inverse=True)
        return reader.get_batch(unique.tolist()).asnumpy()[inverse], len(reader)
    except (decord.DECORDError, RuntimeError, AssertionError) as e:
        raise VideoDecodeError(str(e).strip().splitlines()[0][:200]) from e


READERS = {"pyav": _pyav, "torchcodec": _torchcodec, "decord": _decord}


def generate(out: Path) -> None:
    """Videos of ffmpeg's ``testsrc2`` pattern (a moving frame counter) in each GENERATED encoding."""
    out.mkdir(parents=True, exist_ok=True)
    for name, options in GENERATED.items():
        cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
               *options.split(), str(out / name)]
        subprocess.run(cmd, check=True, timeout=300)


def reference(path: Path) -> np.ndarray:
    """Every frame ffmpeg decodes, in display order, rotated upright: (N, H, W, 3) uint8."""
    probe = subprocess.run(
        ["ffmpeg", "-loglevel", "info", "-i", str(path), "-map", "0:v:0", "-frames:v", "1", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-vf", "showinfo", "-"], capture_output=True, timeout=120)
    info = probe.stderr.decode(errors="replace")
    size = [t for t in info.split() if t.startswith("s:")]
    if not size:
        raise RuntimeError(f"ffmpeg cannot decode {path}: {info.strip()[-300:]}")
    width, height = (int(v) for v in size[0][2:].split("x"))
    raw = subprocess.run(["ffmpeg", "-loglevel", "quiet", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, timeout=600).stdout
    n = len(raw) // (width * height * 3)
    return np.frombuffer(raw[: n * width * height * 3], np.uint8).reshape(n, height, width, 3)


def compare(frames: np.ndarray, indices: np.ndarray, ref: np.ndarray) -> tuple[bool, float, list[int]]:
    """(all frames exact, worst difference at the requested index, offsets of the inexact ones)."""
    if frames.shape[1:] != ref.shape[1:]:
        return False, float("inf"), []
    # Every 4th pixel each way tells frames apart and keeps a 1080p file's comparison small.
    ref_f = ref[:, ::4, ::4].astype(np.float32)
    worst, offsets = 0.0, []
    for frame, k in zip(frames[:, ::4, ::4].astype(np.float32), indices):
        mae = np.abs(ref_f - frame).mean(axis=(1, 2, 3))
        at = float(mae[k]) if k < len(ref) else float("inf")
        worst = max(worst, at)
        if at > TOLERANCE or at > mae.min() + 0.5:
            offsets.append(int(mae.argmin()) - int(k))
    return not offsets, worst, sorted(set(offsets))


def check(path: Path, backend: str, ref: np.ndarray) -> dict:
    """Exactness of ``backend`` on ``path`` for every sampler."""
    result: dict = {}
    for name, sampler in SAMPLERS.items():
        try:
            frames, n = READERS[backend](path, sampler)
        except VideoDecodeError as e:
            result[name] = {"status": "raises", "error": str(e).removeprefix(f"{path}: ")[:120]}
            continue
        except Exception as e:  # a reader crashing in a way it should not is a finding too
            result[name] = {"status": "crashes", "error": f"{type(e).__name__}: {e}"[:120]}
            continue
        indices = np.asarray(sampler(n, None)[0])
        exact, worst, offsets = compare(frames, indices, ref)
        result[name] = {"status": "exact" if exact else "wrong", "frames": n, "ffmpeg_frames": len(ref),
                        "worst_mae": round(worst, 2), "off": offsets}
    return result


def speed(files: list[Path], backend: str, repeats: int) -> dict[str, float]:
    """Source frames per CPU second of each sampler over ``files`` (files a reader refuses left out)."""
    out = {}
    for name, sampler in SAMPLERS.items():
        readable, frames = [], 0
        for f in files:
            try:
                frames += READERS[backend](f, sampler)[1]
                readable.append(f)
            except Exception:  # refused or crashed: counted in the exactness table
                pass
        best = float("inf")
        for _ in range(repeats):
            t = time.process_time()
            for f in readable:
                READERS[backend](f, sampler)
            best = min(best, time.process_time() - t)
        out[name] = round(frames / best, 1) if readable and best > 0 else 0.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="*", type=Path, help="folders of videos (searched recursively)")
    parser.add_argument("--generate", type=Path, help="write the GENERATED encodings to this folder and exit")
    parser.add_argument("--backends", nargs="*", default=["pyav"], choices=list(READERS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.generate:
        generate(args.generate)
        return
    files = sorted(p for root in args.roots for p in root.rglob("*") if p.is_file() and is_video(p.name))
    rows, speeds = {}, {}
    for f in files:
        try:
            ref = reference(f)
        except RuntimeError as e:
            rows[str(f)] = {"ffmpeg": str(e)[:120]}
            continue
        rows[str(f)] = {b: check(f, b, ref) for b in args.backends}
    exact_files = [Path(f) for f, r in rows.items() if "ffmpeg" not in r and "corrupt" not in f]
    for b in args.backends:
        speeds[b] = speed(exact_files, b, args.repeats)
    print(f"{'file':<48}" + "".join(f"{b:>24}" for b in args.backends))
    for f, r in rows.items():
        cells = []
        for b in args.backends:
            if b not in r:
                cells.append("ffmpeg fails")
                continue
            u = r[b]["uniform32"]
            cells.append(u["status"] + (f" off {u['off']}" if u.get("off") else ""))
        print(f"{Path(f).name[:47]:<48}" + "".join(f"{c[:23]:>24}" for c in cells))
    print(f"{'frames per CPU second (uniform32 / stride16x2)':<48}"
          + "".join(f"{s['uniform32']:>12.0f}{s['stride16x2']:>12.0f}" for s in speeds.values()))
    print(json.dumps({"files": rows, "frames_per_cpu_s": speeds}))


if __name__ == "__main__":
    main()
