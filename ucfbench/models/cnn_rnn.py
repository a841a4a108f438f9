"""End-to-end CNN-RNN (``model=cnn_rnn``): a frame-wise ResNet, a BiLSTM, temporal attention.

Seed 000's network, trained from pixels: every frame of a (B, T, 3, H, W) clip goes through a
torchvision ResNet (ImageNet weights by default), the (B, T, D) frame features through a
bidirectional LSTM, dot-product self-attention over time, a masked mean over the valid steps, and
a linear classifier. Which backbone stages may ever train is ``finetune_layers``; *when* they start
training is the :class:`~ucfbench.models.finetuning.ProgressiveUnfreeze` callback's business.

Padding never changes the output in eval mode: the LSTM runs each direction over the valid steps
only (the backward direction on each clip reversed within its length, so no packing is needed and
the network exports to ONNX), attention ignores padded keys, and pooling averages valid steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ucfbench.backbones.frame_encoder import FrameEncoder
from ucfbench.models.heads.temporal import TemporalHead

STAGES = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")


class Backbone2D(FrameEncoder):
    """The frame encoder's torchvision ResNet, trainable stage by stage: (B, T, 3, H, W) -> (B, T, D).

    Frames arrive ImageNet-normalised (the clip transforms normalise them, with augmentation).

    Args:
        arch: ``resnet18``, ``resnet34``, ``resnet50`` (or ``resnet101``).
        weights: torchvision weights name (``IMAGENET1K_V1``) or None for a seeded random init.
        init_seed: seed of the random init when ``weights`` is None.
        finetune_layers: stages that may train (names from :data:`STAGES`, or ``[all]``); the
            others stay frozen for the whole run.
        bn_eval: frozen BatchNorm layers stay in eval mode (use their running statistics) while
            the model trains; otherwise they normalise with batch statistics. Either way a frozen
            layer's parameters and statistics never change.
    """

    def __init__(
        self,
        *,
        arch: str = "resnet18",
        weights: str | None = "IMAGENET1K_V1",
        init_seed: int = 0,
        finetune_layers: Sequence[str] = ("layer3", "layer4"),
        bn_eval: bool = True,
    ) -> None:
        layers = list(STAGES) if list(finetune_layers) == ["all"] else list(finetune_layers)
        unknown = sorted(set(layers) - set(STAGES))
        if unknown:
            raise ValueError(f"finetune_layers: unknown stage(s) {unknown}; choose from {list(STAGES)} or [all]")
        super().__init__(library="torchvision", model=arch, weights=weights, init_seed=init_seed, frozen=False)
        self.pretrained = weights is not None
        self.finetune_layers = [s for s in STAGES if s in layers]
        self.bn_eval = bn_eval
        for stage in self.frozen_stages():  # never trained (the optimizer only takes trainable parameters)
            stage.requires_grad_(False)

    def stages(self, names: Sequence[str] | None = None) -> list[nn.Module]:
        """The ResNet stages named (default: ``finetune_layers``)."""
        return [getattr(self.net, n) for n in (self.finetune_layers if names is None else names)]

    def frozen_stages(self) -> list[nn.Module]:
        """Stages that never train (not in ``finetune_layers``)."""
        return self.stages([s for s in STAGES if s not in self.finetune_layers])

    def train(self, mode: bool = True) -> Backbone2D:
        super().train(mode)
        if mode and self.bn_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm) and not any(p.requires_grad for p in m.parameters()):
                    m.eval()  # frozen: keep using (and never update) its running statistics
        return self


class CNNRNN(nn.Module):
    """The CNN-RNN write-up's end-to-end network: ``forward(x: (B, T, 3, H, W), lengths: (B,)) -> logits (B, C)``.

    ``x`` is ImageNet-normalised float frames. After a forward pass with attention on,
    :meth:`attention_over_time` gives each clip's (B, T) attention over its frames.

    Args:
        num_classes: number of classes C.
        arch, weights, init_seed, finetune_layers, bn_eval: the backbone (:class:`Backbone2D`).
        input_dim: ignored (the suite passes the feature size to sequence heads).
        **head: the head's settings (:class:`~ucfbench.models.heads.temporal.TemporalHead`:
            ``hidden_dim``, ``num_layers``, ``bidirectional``, ``dropout``, ``attention``, ``attention_dim``).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        arch: str = "resnet18",
        weights: str | None = "IMAGENET1K_V1",
        init_seed: int = 0,
        finetune_layers: Sequence[str] = ("layer3", "layer4"),
        bn_eval: bool = True,
        input_dim: int | None = None,
        **head: Any,
    ) -> None:
        super().__init__()
        self.arch, self.weights = arch, weights
        self.backbone = Backbone2D(arch=arch, weights=weights, init_seed=init_seed,
                                   finetune_layers=finetune_layers, bn_eval=bn_eval)
        self.head = TemporalHead(input_dim=self.backbone.out_dim, num_classes=num_classes, **head)

    def describe(self) -> dict:
        """What ``metrics.json`` records about the backbone this model trains end to end."""
        return {"features": {"library": "torchvision", "model": self.arch, "weights": self.weights, "end_to_end": True}}

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) frames -> (B, T, D) per-frame features."""
        assert x.ndim == 5 and x.shape[2] == 3, f"expected (B, T, 3, H, W) frames, got {tuple(x.shape)}"
        return self.backbone(x)  # (B, T, D)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.frame_features(x), lengths)

    def forward_with_attention(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, C) and each clip's attention over its frames (B, T), None without attention
        (the interface the demo and ``ucfbench.inference`` read)."""
        logits = self(x, lengths)
        return logits, self.attention_over_time()

    def attention_over_time(self) -> torch.Tensor | None:
        """(B, T) attention each frame received in the last forward pass (mean over the valid
        query steps; rows sum to 1), or None without attention."""
        att = self.head.attention
        if att is None or att.last_weights is None:
            return None
        w = att.last_weights.float()  # (B, T, T): query, key
        valid_q = att.last_mask.to(w.dtype)  # (B, T)
        return (w * valid_q.unsqueeze(-1)).sum(1) / valid_q.sum(1, keepdim=True).clamp_min(1.0)  # (B, T)
