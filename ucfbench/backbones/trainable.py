"""A frame encoder that trains with its head, stage by stage (the CNN-RNN's ResNet).

Which stages may ever train is ``finetune_layers``; *when* they start training is the
:class:`~ucfbench.models.finetuning.ProgressiveUnfreeze` callback's business.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ucfbench.backbones.frame_encoder import FrameEncoder

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

    weights_key = "model.encoder.weights"

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
        self.finetune_layers = [s for s in STAGES if s in layers]
        self.bn_eval = bn_eval
        for stage in self.frozen_stages():  # never trained (the optimizer only takes trainable parameters)
            stage.requires_grad_(False)

    @property
    def pretrained(self) -> bool:
        """Whether the ResNet starts from pretrained weights (else a seeded random init)."""
        return self.weights is not None

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
