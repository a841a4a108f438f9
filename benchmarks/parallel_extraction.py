"""Parallel feature extraction: N ``uv run ucfbench extract`` jobs started at once on an empty
cache share the videos; and what loading a cache with its integrity checks costs per GB.

    OMP_NUM_THREADS=1 uv run python benchmarks/parallel_extraction.py --jobs 1 2 4
    OMP_NUM_THREADS=1 uv run python benchmarks/parallel_extraction.py --jobs 1 2 --overrides dataset.spec.groups=12

The dataset is generated once (by the first run, into ``--home``); each N gets an empty feature
cache. Per N: total videos extracted by all jobs (the ``N extracted by this job`` line each prints),
wall time from launch to the last exit, extraction time (first job starting to extract to the last
one done: the wall time less the jobs' start-up, imports mostly) and its speed-up over N=1. The load figure times
:meth:`RowCache.verify` (the files' checks; every row's state, crc32, length and finite values) on a
cache of ``--verify-gib`` GiB,
twice: the first pass reads the file as written (in the page cache when memory allows), the
second is warm. The last line printed is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def run_jobs(n: int, home: Path, overrides: list[str]) -> dict:
    cache = home / f"features-n{n}"
    env = {**os.environ, "UCFBENCH_HOME": str(home), "OMP_NUM_THREADS": "1", "COLUMNS": "1000"}
    cmd = [sys.executable, "-m", "ucfbench.extract", f"features.dir={cache}", "features.accelerator=cpu", *overrides]
    start = time.perf_counter()
    jobs = [subprocess.Popen([*cmd, f"hydra.run.dir={home / 'runs' / f'n{n}-{i}'}"], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(n)]
    outs = [job.communicate()[0] for job in jobs]
    wall = time.perf_counter() - start
    counts, starts, ends = [], [], []
    for job, out in zip(jobs, outs):
        if job.returncode != 0:
            raise SystemExit(f"extract job failed ({job.returncode}):\n{out[-3000:]}")
        counts.append(int(re.search(r"(\d+) extracted by this job", out).group(1)))
        starts.append(_stamp(out, "Extracting"))
        ends.append(_stamp(out, "Features complete"))
    # Extraction alone: from the first job's first claim to the last job's end (imports excluded).
    span = (max(ends) - min(starts)).total_seconds()
    return {"jobs": n, "extracted": counts, "total_extracted": sum(counts), "wall_s": round(wall, 1),
            "extraction_s": round(span, 1)}


def _stamp(log: str, what: str) -> datetime:
    """Time of the first Hydra log line containing ``what``."""
    line = next(line for line in log.splitlines() if what in line)
    return datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")


def prepare_dataset(home: Path, overrides: list[str]) -> None:
    """Generate the dataset once, before any timing (jobs find it there)."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from ucfbench.utils.resolvers import register_resolvers

    os.environ["UCFBENCH_HOME"] = str(home)
    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    instantiate(cfg.dataset).prepare()


def verify_cost(gib: float, folder: Path) -> dict:
    from ucfbench.cache.rows import RowCache
    from ucfbench.data.types import VideoRecord

    t, d = 32, 512  # a default feature row: 32 frames x 512 float16
    n = int(gib * 2**30 // (t * d * 2))
    records = [VideoRecord(relpath=f"c/v{i}.avi", label=0) for i in range(n)]
    cache = RowCache(dir=folder / "verify", records=records, data="features", dtype=np.float16, row_shape=(t, d),
                     meta={"key": "bench"}, kind="feature", hint="features.dir")
    cache.create()
    rng = np.random.default_rng(0)
    block = rng.standard_normal((256, t, d)).astype(np.float16)
    for start in range(0, n, 256):
        rows = np.arange(start, min(start + 256, n))
        cache.write_rows(rows, block[: len(rows)], np.full(len(rows), t))
    size = (folder / "verify" / "features.npy").stat().st_size / 1e9
    times = []
    for _ in range(2):
        begin = time.perf_counter()
        assert len(RowCache(dir=cache.dir, records=records, data="features", dtype=np.float16, row_shape=(t, d),
                            meta={"key": "bench"}, kind="feature", hint="features.dir").verify()) == 0
        times.append(time.perf_counter() - begin)
    return {"rows": n, "gb": round(size, 3), "first_s": round(times[0], 3), "warm_s": round(times[1], 3),
            "s_per_gb_warm": round(times[1] / size, 3), "s_per_gb_first": round(times[0] / size, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 2, 4], help="none: the load figure only")
    parser.add_argument("--home", type=Path, default=None, help="UCFBENCH_HOME (default: a fresh temporary one)")
    parser.add_argument("--overrides", nargs="*", default=[], help="Hydra overrides for every job")
    parser.add_argument("--verify-gib", type=float, default=1.0)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="ucfbench-parallel-"))
    if args.jobs:
        prepare_dataset(home, args.overrides)
    load = os.getloadavg()
    results = [run_jobs(n, home, args.overrides) for n in args.jobs]
    base = next((r["extraction_s"] for r in results if r["jobs"] == 1), None)
    for r in results:
        r["speedup"] = round(base / r["extraction_s"], 2) if base else None
        print(f"N={r['jobs']}: {r['total_extracted']} videos extracted in all {r['extracted']}, "
              f"{r['wall_s']} s wall, {r['extraction_s']} s extracting, x{r['speedup']} vs one job")
    verify = verify_cost(args.verify_gib, home)
    print(f"load + verify: {verify['s_per_gb_warm']} s/GB warm, {verify['s_per_gb_first']} s/GB first pass "
          f"({verify['gb']} GB, {verify['rows']} rows)")
    print(json.dumps({"load_before": load, "load_after": os.getloadavg(), "cpus": os.cpu_count(),
                      "extraction": results, "verify": verify}))


if __name__ == "__main__":
    main()
