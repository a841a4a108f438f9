"""Build a trained network from its run's config without Lightning or Hydra (fast start-up for predict).

A run's ``config.yaml`` is saved resolved, so its ``_target_`` nodes need no interpolation:
:func:`instantiate` imports each target and calls it, as ``hydra.utils.instantiate`` would for
these configs (``_target_``, ``_partial_``, nested nodes), in a few milliseconds instead of
importing Hydra.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping

from torch import nn


def locate(path: str) -> object:
    """The object a dotted ``_target_`` names (``package.module.Name``)."""
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        parent = locate(module)  # a nested attribute: package.module.Class.method
        return getattr(parent, name)


def _plain(node: object) -> object:
    if hasattr(node, "_metadata"):  # an OmegaConf container
        from omegaconf import OmegaConf

        return OmegaConf.to_container(node, resolve=True)
    return node


def instantiate(node: object, /, **kwargs) -> object:
    """Build ``node`` (a dict or DictConfig with ``_target_``; nested ones first), ``kwargs`` added."""
    node = _plain(node)
    if isinstance(node, list):
        return [instantiate(v) for v in node]
    if not isinstance(node, Mapping):
        return node
    if "_target_" not in node:
        return {k: instantiate(v) for k, v in node.items()}
    args = {k: instantiate(v) for k, v in node.items() if not (k.startswith("_") and k.endswith("_"))}
    args.update(kwargs)
    target = locate(str(node["_target_"]))
    if node.get("_partial_", False):
        return functools.partial(target, *node.get("_args_", ()), **args)
    return target(*node.get("_args_", ()), **args)


def build_net(node: object, **dims: object) -> nn.Module:
    """A run's ``model.net`` (the head) completed with ``dims`` (``num_classes``, ``input_dim``), as
    the LightningModule completes its partial head."""
    return instantiate({**_plain(node), "_partial_": True})(**dims)
