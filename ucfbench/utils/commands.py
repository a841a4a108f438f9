"""How the project writes its own command lines: every command it prints runs as printed.

In a checkout set up with ``uv sync`` (the README's set-up) the commands are ``uv run ucfbench
<command> ...``: uv finds the project's environment without it being activated. From outside the
checkout uv needs ``--project <checkout>``; an installed package (no ``uv.lock`` beside it) is
just ``ucfbench``.
"""

from __future__ import annotations

import shlex
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]


def launcher(cwd: Path | None = None) -> str:
    """The words that start a ucfbench command from ``cwd`` (default: the current directory)."""
    if not ((CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "uv.lock").is_file()):
        return "ucfbench"
    try:
        here = (cwd or Path.cwd()).resolve()
    except OSError:  # the working directory was removed
        here = Path("/")
    if here == CHECKOUT or CHECKOUT in here.parents:
        return "uv run ucfbench"
    return f"uv run --project {shlex.quote(str(CHECKOUT))} ucfbench"


def command(name: str, *args: str, quote: bool = True) -> str:
    """``uv run ucfbench <name> <args>`` (each argument shell-quoted unless ``quote=False``)."""
    words = [shlex.quote(a) for a in args] if quote else list(args)
    return " ".join([launcher(), name, *words])
