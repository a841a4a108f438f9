"""Mistakes a user can fix: one exception type, "did you mean", and where to get a dataset.

No heavy imports: every entry point (and ``--help``) can use it. The commands print these errors
as a few lines and exit with status 2 (:data:`EXIT_USAGE`); ``HYDRA_FULL_ERROR=1`` shows the
traceback instead, for bug reports.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable

EXIT_USAGE = 2

# Errors that mean "the command line, the config or a file given is wrong", by (module, class):
# checked only once their module is imported, so naming them here imports nothing.
USER_ERRORS = (
    ("ucfbench.utils.errors", "UsageError"),
    ("ucfbench.data.base", "DatasetError"),
    ("ucfbench.inference.model", "CheckpointError"),
    ("ucfbench.backbones.frame_encoder", "WeightsUnavailableError"),
    ("ucfbench.data.video", "VideoDecodeError"),  # a video of the user's dataset (the commands add the ways out)
)

# Hydra option of the dataset group -> (name, where to download it, an example dataset.root)
DATASETS = {
    "ucf101": ("UCF101", "https://www.crcv.ucf.edu/data/UCF101.php (videos and the official split files)",
               "/data/UCF-101"),
    "ucf50": ("UCF50", "https://www.crcv.ucf.edu/data/UCF50.php", "/data/UCF50"),
    "hmdb51": ("HMDB51", "https://serre-lab.clps.brown.edu/resource/hmdb-a-large-human-motion-database/ "
               "(videos and testTrainMulti_7030_splits)", "/data/hmdb51"),
    "folder": ("your videos", None, "/data/my_videos"),
}


class UsageError(ValueError):
    """A command line or config value that cannot run; the message says what to type instead."""


def is_user_error(err: BaseException) -> bool:
    """True for the error types of :data:`USER_ERRORS` (a mistake in what was asked, not a bug)."""
    for module, name in USER_ERRORS:
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(err, cls):
            return True
    return False


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
