"""Weights & Biases: offline by default, online once the user has configured W&B."""

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


def wandb_offline() -> bool:
    """Offline unless configured; ``WANDB_MODE`` set by the user always wins."""
    mode = os.environ.get("WANDB_MODE")
    if mode:
        return mode in ("offline", "dryrun", "disabled")
    return not wandb_is_configured()
