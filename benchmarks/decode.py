"""Decode throughput of the video readers against the ffmpeg CLI, everything on one CPU core.

Each in-process reader goes through :func:`ucfbench.data.video.read_frames` with
``UniformSampler(num_frames=32)``, at the videos' own resolution and at ``size=112`` and ``224``
(short side scaled to it, centre crop; 224 is what the feature extractors use). The reference is
``ffmpeg -threads 1 -i FILE -f null -`` (decode only, no colour conversion), run once per file as
specified, and also over all files in one process with the concat demuxer (video stream only),
because an ffmpeg process takes ~0.07 s to start, several times the decode of a UCF101 clip.

Throughput is source frames decoded per second (all frames of the files / wall time, whatever the
sampler keeps) and videos per second; the best of ``--repeats`` passes counts. The same is given
per CPU second (user + system, all threads, ffmpeg children included), which stays put when other
work shares the core while wall time does not.

    uv run python benchmarks/decode.py --synthetic [--spec size=240 frames=100 groups=3]
    uv run python benchmarks/decode.py --root ../shared/data/real_clips/ucf101 --repeats 5

Needs the ffmpeg CLI (``apt-get install ffmpeg``; a benchmark tool, not a project dependency). The
last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ucfbench.data import video
from ucfbench.data.sampling import UniformSampler
from ucfbench.data.video import probe, read_frames

log = logging.getLogger("benchmarks.decode")

CORE = 0
FFMPEG = ["taskset", "-c", str(CORE), "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"]
SAMPLER = UniformSampler(num_frames=32)


def find_videos(root: Path) -> list[Path]:
    """Every .avi and .mp4 under ``root``, sorted."""
    files = sorted(
        p for p in root.rglob("*") if p.suffix.lower() in (".avi", ".mp4") and p.is_file()
    )
    if not files:
        raise SystemExit(f"no .avi or .mp4 files under {root}; pass --root DIR or --synthetic")
    return files


def synthetic_videos(workdir: Path, overrides: dict[str, str]) -> Path:
    """The synthetic dataset (default spec, or with integer ``overrides``) under ``workdir``."""
    from ucfbench.data.synthetic_videos import SyntheticSpec, generate

    return generate(
        workdir / "synthetic", SyntheticSpec(**{k: int(v) for k, v in overrides.items()})
    )


def ffmpeg_each(files: list[Path]) -> None:
    for f in files:
        subprocess.run([*FFMPEG, "-threads", "1", "-i", str(f), "-f", "null", "-"], check=True)


def ffmpeg_concat(files: list[Path]) -> None:
    """All files through one ffmpeg process and decoder (concat demuxer): no start-up per file."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        for f in files:
            quoted = str(f.resolve()).replace("'", "'\\''")
            listing.write(f"file '{quoted}'\n")
        listing.flush()
        # Files whose time bases differ make the null muxer complain about dts order: harmless.
        cmd = [*FFMPEG, "-loglevel", "fatal", "-threads", "1", "-f", "concat", "-safe", "0"]
        subprocess.run([*cmd, "-i", listing.name, "-map", "0:v:0", "-f", "null", "-"], check=True)


def reader(backend: str, size: int | None) -> Callable[[list[Path]], None]:
    def run(files: list[Path]) -> None:
        for f in files:
            read_frames(f, SAMPLER, size=size, backend=backend)

    return run


def _cpu_seconds() -> float:
    """CPU time of this process (all threads) plus its finished children (the ffmpeg runs)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def time_readers(
    runs: dict[str, Callable[[list[Path]], None]], files: list[Path], repeats: int
) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) seconds of a pass over ``files`` per reader, after one warm-up pass each.

    Rounds interleave the readers, so background load hits them all alike; CPU seconds are
    reported too because they barely move with load on a shared machine, where wall time does.
    """
    for run in runs.values():
        run(files)  # warm the page cache and lazy imports
    best = {name: (float("inf"), float("inf")) for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            wall, cpu = time.perf_counter(), _cpu_seconds()
            run(files)
            wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def report(
    seconds: dict[str, tuple[float, float]], *, total_frames: int, videos: int
) -> dict[str, dict[str, float]]:
    """Print the table of figures and return them."""
    each_wall = seconds["ffmpeg"][0]
    concat_wall, concat_cpu = seconds["ffmpeg_concat"]
    results = {
        name: {
            "frames_per_s": round(total_frames / wall, 1),
            "videos_per_s": round(videos / wall, 2),
            "vs_ffmpeg": round(each_wall / wall, 3),
            "vs_ffmpeg_concat": round(concat_wall / wall, 3),
            "cpu_frames_per_s": round(total_frames / cpu, 1),
            "cpu_vs_ffmpeg_concat": round(concat_cpu / cpu, 3),
        }
        for name, (wall, cpu) in seconds.items()
    }
    print(
        f"{'reader':<16}{'frames/s':>10}{'videos/s':>10}{'vs ffmpeg':>11}{'vs concat':>11}"
        f"{'CPU frames/s':>14}{'CPU vs concat':>15}"
    )
    for name, r in results.items():
        print(
            f"{name:<16}{r['frames_per_s']:>10.0f}{r['videos_per_s']:>10.1f}"
            f"{r['vs_ffmpeg']:>10.2f}x{r['vs_ffmpeg_concat']:>10.2f}x"
            f"{r['cpu_frames_per_s']:>14.0f}{r['cpu_vs_ffmpeg_concat']:>14.2f}x"
        )
    return results


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--root", type=Path, help="directory of videos (recursive *.avi, *.mp4)")
    source.add_argument(
        "--synthetic", action="store_true", help="generate the default synthetic set"
    )
    parser.add_argument(
        "--spec",
        nargs="*",
        default=[],
        metavar="KEY=INT",
        help="SyntheticSpec overrides, e.g. size=240",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed passes per reader (best counts)"
    )
    parser.add_argument(
        "--min-videos",
        type=int,
        default=64,
        help="repeat the file list up to this many videos per pass",
    )
    parser.add_argument("--limit", type=int, help="use only the first N videos")
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=[112, 224], help="read_frames(size=...) to time too"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if shutil.which("ffmpeg") is None or shutil.which("taskset") is None:
        raise SystemExit("needs the ffmpeg CLI and taskset: apt-get install -y ffmpeg util-linux")
    os.sched_setaffinity(0, {CORE})  # one core for the in-process readers

    with tempfile.TemporaryDirectory(prefix="decode-bench-") as tmp:
        if args.synthetic:
            root = synthetic_videos(Path(tmp), dict(kv.split("=", 1) for kv in args.spec))
        else:
            root = args.root
        files = find_videos(root)[: args.limit]
        infos = [probe(f, backend="pyav") for f in files]
        sizes = collections.Counter(f"{i.width}x{i.height}" for i in infos)
        log.info(
            "%d videos, %d frames, sizes %s",
            len(files),
            sum(i.num_frames for i in infos),
            dict(sizes),
        )
        # Repeat a small set so each pass is long enough to time and ffmpeg's start-up is amortised.
        reps = -(-args.min_videos // len(files))
        workload, total_frames = files * reps, sum(i.num_frames for i in infos) * reps

        runs = {"ffmpeg": ffmpeg_each, "ffmpeg_concat": ffmpeg_concat}
        for backend in video.BACKENDS:
            runs[backend] = reader(backend, None)
            for size in args.sizes:
                runs[f"{backend}@{size}"] = reader(backend, size)
        seconds = time_readers(runs, workload, args.repeats)
        for name, (wall, cpu) in seconds.items():
            log.info(
                "%-16s %.3f s wall, %.3f s CPU per pass of %d videos",
                name,
                wall,
                cpu,
                len(workload),
            )

    results = report(seconds, total_frames=total_frames, videos=len(workload))
    print(
        json.dumps(
            {
                "source": "synthetic" if args.synthetic else str(args.root),
                "videos": len(files),
                "frames": total_frames // reps,
                "passes_repeat_list": reps,
                "sizes": dict(sizes),
                "sampler": repr(SAMPLER),
                "cpu": cpu_name(),
                "cores_used": 1,
                "default_backend": video.DEFAULT_BACKEND,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
