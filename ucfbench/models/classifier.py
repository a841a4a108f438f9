"""The one video classifier: an encoder (frames -> per-frame features) and a head (features -> logits).

As mmaction2's recognizer is a backbone and a classification head, every model of the suite is a
:class:`VideoClassifier`. A sequence head trains without its encoder (the frozen encoder ran
offline into the feature cache) and gets it back for inference; the CNN-RNN trains its encoder
with the head. The same class serves training, ``predict``, the demo and ONNX export.

Imports torch only, so ``predict`` loads a model without Lightning or Hydra.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


class Standardize(nn.Module):
    """(B, T, D) features -> (x - mean) / std per dimension, with the training split's statistics.

    Frozen-backbone features vary far more between videos than over time within one;
    standardising brings the temporal signal into a range the heads learn from. Per step, so
    padding stays inert. The statistics are buffers: they travel in the checkpoint.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def set(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class VideoClassifier(nn.Module):
    """``encoder + head``: ``forward(x, lengths: (B,)) -> logits (B, C)``.

    With an encoder, ``x`` is (B, T, 3, H, W) frames (uint8, or float preprocessed as the encoder
    wants); without one, (B, T, D) features that the encoder computed offline (the feature cache).

    Args:
        head: (B, T, D) features, (B,) lengths -> (B, C) logits. A head that weighs time exposes
            ``attention_over_time() -> (B, T) | None`` for the last forward pass.
        encoder: (B, T, 3, H, W) -> (B, T, D), or None (the model reads features).
        norm: applied to the features before the head (:class:`Standardize`; None: none).
        feature_dtype: the encoder's features pass through this dtype, as the feature cache stores
            them (float16), so a rebuilt sequence-head model repeats its run's test outputs.
    """

    def __init__(self, *, head: nn.Module, encoder: nn.Module | None = None, norm: nn.Module | None = None,
                 feature_dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.norm = norm if norm is not None else nn.Identity()
        self.head = head
        self.feature_dtype = feature_dtype

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) features of frames (through the encoder) or of features (as they are)."""
        if self.encoder is None:
            return x
        feats = self.encoder(x)  # (B, T, D)
        return feats if self.feature_dtype is None else feats.to(self.feature_dtype).float()

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.features(x)), lengths)

    def attention_over_time(self) -> torch.Tensor | None:
        """(B, T) weight of each frame in the last forward pass, for heads that have one (else None)."""
        attention = getattr(self.head, "attention_over_time", None)
        return attention() if attention is not None else None

    def forward_with_attention(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits and the head's attention over time (the interface predict and the demo read)."""
        return self(x, lengths), self.attention_over_time()

    def without_encoder(self) -> VideoClassifier:
        """The same norm and head (shared, not copied) reading features: what ``head.onnx`` exports."""
        return VideoClassifier(head=self.head, norm=self.norm)


def upgrade_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A checkpoint's ``state_dict`` in the :class:`VideoClassifier` layout (``model.encoder.*``,
    ``model.norm.*``, ``model.head.*``); checkpoints saved with the network as ``net`` (the head, or
    the CNN-RNN's ``backbone`` and ``head``) and the statistics as ``input_mean``/``input_std`` are renamed."""
    if any(k.startswith("model.") for k in state_dict):
        return dict(state_dict)
    renames = (("net.backbone.", "model.encoder."), ("net.head.", "model.head."), ("net.", "model.head."),
               ("input_mean", "model.norm.mean"), ("input_std", "model.norm.std"))
    out = {}
    for key, value in state_dict.items():
        new = next((to + key[len(old):] for old, to in renames if key.startswith(old)), key)
        out[new] = value
    return out
