"""Start-up of every command: ``--help`` and a config mistake, wall seconds per process (median of N runs).

    uv run python benchmarks/startup.py [--runs 5] [--before <tree>]

Each command is started as a fresh process with this environment's Python, the code taken from the
checkout (or, with ``--before``, from another source tree of ucfbench put first on PYTHONPATH, e.g.
``git archive <commit> | tar -x -C /tmp/before``), and timed from start to exit. Also prints whether
torch was imported. The ``uv run`` wrapper adds its own start-up on top (measured separately below).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# label -> (arguments after `python -m` in the current tree, the same in a tree before the `ucfbench` command)
CASES = {
    "run --help": (["ucfbench", "run", "--help"], ["ucfbench.run", "--help"]),
    "run model=GRU (config error)": (["ucfbench", "run", "model=GRU"], ["ucfbench.run", "model=GRU"]),
    "run seed=-1 (config error)": (["ucfbench", "run", "seed=-1"], ["ucfbench.run", "seed=-1"]),
    "extract --help": (["ucfbench", "extract", "--help"], ["ucfbench.extract", "--help"]),
    "check --help": (["ucfbench", "check", "--help"], ["ucfbench.data.check", "--help"]),
    "report --help": (["ucfbench", "report", "--help"], ["ucfbench.report", "--help"]),
    "predict --help": (["ucfbench", "predict", "--help"], ["ucfbench.predict", "--help"]),
    "export --help": (["ucfbench", "export", "--help"], ["ucfbench.export", "--help"]),
    "app --help": (["ucfbench", "app", "--help"], ["ucfbench.app", "--help"]),
}


def timed(args: list[str], *, tree: Path, runs: int) -> tuple[float, int]:
    """Median wall seconds of ``python -m <args>`` with ``tree`` first on PYTHONPATH, and the last exit status."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "UCFBENCH_HOME": "/tmp/ucfbench-startup"}
    env.pop("HYDRA_FULL_ERROR", None)
    times, code = [], 0
    for _ in range(runs + 1):  # the first run warms the file cache and is not counted
        start = time.perf_counter()
        code = subprocess.run([sys.executable, "-m", *args], cwd=tree, env=env, capture_output=True,
                              timeout=600).returncode
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), code


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--before", type=Path, default=None, help="another ucfbench source tree to compare with")
    args = p.parse_args()
    header = "| command | " + ("before (s) | " if args.before else "") + "now (s) | exit |"
    print(header)
    print("|---|" + ("---|" if args.before else "") + "---|---|")
    for label, (now, before) in CASES.items():
        cells = [label]
        if args.before:
            seconds, _ = timed(before, tree=args.before, runs=args.runs)
            cells.append(f"{seconds:.2f}")
        seconds, code = timed(now, tree=REPO, runs=args.runs)
        cells += [f"{seconds:.2f}", str(code)]
        print("| " + " | ".join(cells) + " |", flush=True)
    start = time.perf_counter()
    subprocess.run(["uv", "run", "true"], cwd=REPO, capture_output=True, timeout=600)
    print(f"\n`uv run` itself (uv run true): {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
