"""A new user's first hour, end to end, as they would type it (issue: "your own videos, the first hour").

Fresh ``UCFBENCH_HOME``; a tiny sweep whose printed report command is then run exactly as printed by
a shell that has no activated environment; a folder of one's own clips with ``debug=tiny``; a broken
``.mp4`` in it (a few lines, exit 2, no run folder; ``dataset.on_bad_video=skip`` then trains); a
folder too small to validate on (refused with the counts per class).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from tests.utils import write_video

pytestmark = pytest.mark.slow
TIMEOUT = 600


def ucfbench(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env.update({"UCFBENCH_HOME": str(home), "OMP_NUM_THREADS": "1"})
    return subprocess.run([sys.executable, "-m", "ucfbench", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)


def unactivated_shell(line: str, home: Path) -> subprocess.CompletedProcess:
    """``bash -c line`` as a user's own shell: no VIRTUAL_ENV, the project's venv not on PATH."""
    venv = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p and Path(p) != Path(venv))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "HYDRA_FULL_ERROR", "PYTHONPATH")}
    env.update({"PATH": path, "UCFBENCH_HOME": str(home), "OMP_NUM_THREADS": "1"})
    return subprocess.run(["bash", "-c", line], cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def own_clips(root: Path, per_class: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for cls, n in per_class.items():
        for i in range(n):
            write_video(root / cls / f"{cls}_{i}.mp4", rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8))
    return root


def run_folders(home: Path) -> list[Path]:
    return sorted(p for p in home.glob("runs/*/*/*") if p.is_dir())  # runs/<dataset>/<model>/<time>


@pytest.mark.skipif(shutil.which("uv") is None, reason="the README's set-up needs uv")
def test_the_printed_report_command_runs_in_an_unactivated_shell(tmp_path: Path) -> None:
    home = tmp_path / "home"
    sweep = ucfbench("run", "-m", "debug=tiny", "trainer.max_epochs=1", "model=gru,mean_pool", home=home)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    report_line = sweep.stdout.strip().splitlines()[-1]
    assert report_line.startswith("Report: uv run ucfbench report "), report_line
    command = report_line.removeprefix("Report: ")
    report = unactivated_shell(command, home)
    assert report.returncode == 0, report.stderr[-3000:]
    sweep_dir = Path(command.split()[-1])
    assert (sweep_dir / "report.md").is_file() and "2 runs ->" in report.stdout


def test_own_folder_with_a_broken_video_then_skipped_then_too_small(tmp_path: Path) -> None:
    home = tmp_path / "home"
    root = own_clips(tmp_path / "videos", {"jump": 5, "run": 5, "sit": 5})
    (root / "sit" / "broken.mp4").write_text("a text file named .mp4\n")
    args = ["run", "dataset=folder", f"dataset.root={root}", "debug=tiny", "features.weights=null"]

    broken = ucfbench(*args, home=home)
    assert broken.returncode == 2, broken.stderr[-3000:]
    error = broken.stderr[broken.stderr.index("error: "):].strip().splitlines()
    assert error[0].startswith(f"error: cannot decode a video of the dataset: {root / 'sit' / 'broken.mp4'}")
    assert error[1].endswith("add dataset.on_bad_video=skip")
    assert error[2] == f"Find every unreadable video first: uv run ucfbench check dataset=folder dataset.root={root} probe=true"
    assert "Traceback" not in broken.stderr and run_folders(home) == []  # nothing left behind

    skipped = ucfbench(*args, "dataset.on_bad_video=skip", home=home)
    assert skipped.returncode == 0, skipped.stderr[-3000:]
    [run] = run_folders(home)
    assert (run / "metrics.json").is_file()

    small = own_clips(tmp_path / "small", {"a": 2, "b": 2, "c": 2})
    refused = ucfbench("run", "dataset=folder", f"dataset.root={small}", "debug=tiny", "features.weights=null",
                       home=home)
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert "has no validation videos" in refused.stderr and "videos per class: a 2, b 2, c 2" in refused.stderr
    assert "dataset.val_fraction" in refused.stderr and "Traceback" not in refused.stderr
    assert run_folders(home) == [run]
