"""Build a trained network from its run's config without Lightning or Hydra (fast start-up for predict).

A run's ``config.yaml`` is saved resolved, so its ``_target_`` nodes need no interpolation:
:func:`instantiate` imports each target and calls it, as ``hydra.utils.instantiate`` would for
these configs (``_target_``, ``_partial_``, nested nodes), in a few milliseconds instead of
importing Hydra. :class:`TrainedClassifier` is the inference half of
:class:`~ucfbench.models.module.ActionClassifier` (input standardisation + head): it loads that
LightningModule's ``state_dict`` without importing Lightning.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping

import torch
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
    """A run's ``model.net`` completed with ``dims`` (``num_classes``, ``input_dim``), as the
    LightningModule completes its partial network."""
    return instantiate({**_plain(node), "_partial_": True})(**dims)


class TrainedClassifier(nn.Module):
    """A sequence head with the input standardisation it was trained with: (B, T, D), (B,) -> (B, C).

    Loads an :class:`~ucfbench.models.module.ActionClassifier` checkpoint's ``state_dict``
    (``net.*``, ``input_mean``, ``input_std``) and computes the same forward for one view.
    """

    def __init__(self, *, net: nn.Module, input_dim: int, input_norm: str = "none") -> None:
        super().__init__()
        self.net = net
        self.input_norm = input_norm
        if input_norm == "standardize":
            self.register_buffer("input_mean", torch.zeros(input_dim))
            self.register_buffer("input_std", torch.ones(input_dim))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.input_norm == "standardize":
            x = (x - self.input_mean) / self.input_std  # (B, T, D), per-step: padding stays inert
        return self.net(x, lengths)

    def load_trained(self, state_dict: Mapping[str, torch.Tensor], *, source: object = "checkpoint") -> None:
        """Load the LightningModule's weights; anything it holds besides ours (metric states) is ignored."""
        own = set(self.state_dict())
        # net.* as saved: a head renames the keys of an older layout as it loads them.
        missing = self.load_state_dict({k: v for k, v in state_dict.items() if k in own or k.startswith("net.")},
                                       strict=False).missing_keys
        if missing:
            raise KeyError(f"{source}: no {', '.join(sorted(missing)[:5])} in its state_dict")
