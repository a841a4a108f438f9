"""Where W&B runs go: offline by default, online once the user has configured W&B, nowhere when disabled.

No ``wandb`` import here: the config resolvers use :func:`wandb_offline` at start-up.
"""

from __future__ import annotations

import netrc
import os
from urllib.parse import urlparse


def wandb_is_configured() -> bool:
    """True when W&B credentials exist: ``WANDB_API_KEY`` or a ``wandb login`` netrc entry."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_mode() -> str:
    """``online``, ``offline`` or ``disabled``; ``WANDB_MODE`` set by the user always wins."""
    mode = os.environ.get("WANDB_MODE")
    if mode:
        if mode == "disabled":
            return "disabled"
        return "offline" if mode in ("offline", "dryrun") else "online"
    return "online" if wandb_is_configured() else "offline"


def wandb_offline() -> bool:
    """The ``${wandb_offline:}`` resolver: anything but online (``disabled`` writes nothing at all)."""
    return wandb_mode() != "online"
