"""Weights & Biases: offline by default, online once the user has configured W&B."""

from __future__ import annotations

import netrc
import os
from urllib.parse import urlparse

from omegaconf import OmegaConf

from ucfbench.utils.resolvers import amp_precision, mixed_precision, ucfbench_home


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


def register_resolvers() -> None:
    """Register the resolvers the configs use (``${wandb_offline:}``, ``${amp_precision:...}``, ``${ucfbench_home:}``)."""
    if not OmegaConf.has_resolver("wandb_offline"):
        OmegaConf.register_new_resolver("wandb_offline", wandb_offline)
    if not OmegaConf.has_resolver("amp_precision"):
        OmegaConf.register_new_resolver("amp_precision", amp_precision)
    if not OmegaConf.has_resolver("mixed_precision"):
        OmegaConf.register_new_resolver("mixed_precision", mixed_precision)
    if not OmegaConf.has_resolver("ucfbench_home"):
        OmegaConf.register_new_resolver("ucfbench_home", ucfbench_home)
