"""Frame tensor conversions shared by feature extraction and end-to-end models."""

from __future__ import annotations

import torch
from torchvision.transforms.v2 import functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(x: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> float (..., 3, H, W): scaled to [0, 1], then standardised per channel.

    The one normalisation of the suite: ``mean``/``std`` are the backbone's (ImageNet's for the
    ResNets, CLIP's or SigLIP's for those models), as sequences or (3, 1, 1) tensors.
    """
    mean = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(3, 1, 1)
    std = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(3, 1, 1)
    return x.float().div_(255.0).sub_(mean).div_(std)


def frames_to_input(frames: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """uint8 frames (..., H, W, 3) as decoded -> normalised float (..., 3, H, W).

    Frames travel as uint8 until here (4x less host-to-device traffic than float) and are
    normalised on whatever device the model runs on.
    """
    return normalize(frames.movedim(-1, -3), mean, std)


def normalize_clip(clip: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> ImageNet-normalised float (..., 3, H, W) (the CNN-RNN's ResNet)."""
    return normalize(clip, IMAGENET_MEAN, IMAGENET_STD)


class ClipTransform:
    """uint8 frames (T, H, W, 3) -> normalised float clip (T, 3, size, size), one draw per clip.

    Training: a random resized crop (area share in ``crop_scale``, aspect ratio 3/4 to 4/3) and a
    horizontal flip with probability ``hflip``, with the same crop and flip for every frame of the
    clip, so motion between frames is untouched. Evaluation: the centre ``size`` x ``size`` crop.
    Randomness comes from torch's RNG, which the DataLoader seeds per worker.

    Args:
        size: output frame size.
        train: random augmentation (else centre crop).
        crop_scale: (min, max) share of the frame's area the training crop covers.
        hflip: probability of flipping a training clip.
    """

    def __init__(self, *, size: int, train: bool, crop_scale: tuple[float, float] = (0.6, 1.0), hflip: float = 0.5) -> None:
        if not 0.0 < crop_scale[0] <= crop_scale[1] <= 1.0:
            raise ValueError(f"crop_scale must satisfy 0 < min <= max <= 1, got {crop_scale}")
        self.size, self.train, self.crop_scale, self.hflip = size, train, tuple(crop_scale), hflip

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.movedim(-1, -3)  # (T, 3, H, W) uint8
        if self.train:
            from torchvision.transforms import RandomResizedCrop

            top, left, h, w = RandomResizedCrop.get_params(x, scale=list(self.crop_scale), ratio=[3 / 4, 4 / 3])
            x = TF.resized_crop(x, top, left, h, w, [self.size, self.size], antialias=True)
            if self.hflip > 0 and float(torch.rand(())) < self.hflip:
                x = x.flip(-1)
        elif x.shape[-2:] != (self.size, self.size):
            x = TF.center_crop(x, [self.size, self.size])
        return normalize_clip(x)
