"""Mistakes a user can fix: the :class:`UserError` base, "did you mean", and where to get a dataset.

No heavy imports: every entry point (and ``--help``) can use it. The commands print these errors
as a few lines and exit with status 2 (:data:`EXIT_USAGE`); ``HYDRA_FULL_ERROR=1`` shows the
traceback instead, for bug reports.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable

EXIT_USAGE = 2

# Hydra option of the dataset group -> (name, where to download it, an example dataset.root)
DATASETS = {
    "ucf101": ("UCF101", "https://www.crcv.ucf.edu/data/UCF101.php (videos and the official split files)",
               "/data/UCF-101"),
    "ucf50": ("UCF50", "https://www.crcv.ucf.edu/data/UCF50.php", "/data/UCF50"),
    "hmdb51": ("HMDB51", "https://serre-lab.clps.brown.edu/resource/hmdb-a-large-human-motion-database/ "
               "(videos and testTrainMulti_7030_splits)", "/data/hmdb51"),
    "folder": ("your videos", None, "/data/my_videos"),
}


class UserError(Exception):
    """A mistake in what was asked (command line, config, a file given), not a bug.

    Every package's error for such a mistake subclasses it; the commands print its message and
    exit with :data:`EXIT_USAGE`.
    """


class UsageError(UserError, ValueError):
    """A command line or config value that cannot run; the message says what to type instead."""


class DatasetError(UserError, RuntimeError):
    """The dataset on disk does not match what its configuration expects (see :func:`dataset_hint`)."""


def did_you_mean(word: str, options: Iterable[str], *, prefix: str = "") -> str:
    """``" (did you mean max_epochs?)"`` for the closest option (case aside: ``GRU`` -> ``gru``), or ``""``."""
    by_lower = {o.lower(): o for o in options if not o.startswith("_")}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {prefix}{by_lower[match[0]]}?)" if match else ""


def dataset_hint(choice: str | None) -> str:
    """Where to get dataset ``choice`` (a ``dataset=`` option) and how to check a copy before training."""
    if choice not in DATASETS:
        return ""
    name, url, example = DATASETS[choice]
    lines = [f"Download {name} from {url} and extract it." if url else ""]
    from ucfbench.utils.commands import command

    lines.append(f"Check a copy: {command('check', f'dataset={choice}', f'dataset.root={example}')}")
    lines.append(f"then train:   {command('run', f'dataset={choice}', f'dataset.root={example}')} ...")
    return "\n".join(line for line in lines if line)


def print_error(message: str) -> None:
    """``error: <message>`` on stderr."""
    print(f"error: {message}", file=sys.stderr, flush=True)
