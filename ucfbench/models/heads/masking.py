"""Helpers for honouring ``lengths`` in sequence heads."""

from __future__ import annotations

import torch


def valid_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool, True on real (non-padding) steps."""
    steps = torch.arange(max_len, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def check_lengths(x: torch.Tensor, lengths: torch.Tensor) -> tuple[int, int]:
    """(B, T) of (B, T, D) features ``x``, asserting that ``lengths`` is (B,)."""
    b, t, _ = x.shape
    assert lengths.shape == (b,), f"lengths must be (B,) = ({b},), got {tuple(lengths.shape)}"
    return b, t


def padding_mask(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T) bool, True on the padded steps of (B, T, D) ``x``: attention's ``key_padding_mask``."""
    return ~valid_mask(lengths, check_lengths(x, lengths)[1])


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the valid steps of (B, T, D) -> (B, D)."""
    mask = valid_mask(lengths, x.shape[1]).unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    return (x * mask).sum(1) / lengths.clamp(min=1).unsqueeze(1).to(x.dtype)


def step_index(x: torch.Tensor) -> torch.Tensor:
    """(B, T, ...) -> (B, T) int64 step numbers 0..T-1, built from ``x`` so T stays symbolic in ONNX export."""
    ones = torch.ones_like(x[..., 0], dtype=torch.int64) if x.dim() > 2 else torch.ones_like(x, dtype=torch.int64)
    return ones.cumsum(1) - 1


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T, C): each sample's first ``lengths[b]`` steps in reverse order, padding left in place.

    An involution; lets a backward RNN read only valid steps without ``pack_padded_sequence``.
    """
    steps = step_index(x)  # (B, T)
    last = lengths.to(device=x.device, dtype=torch.int64).unsqueeze(1) - 1  # (B, 1)
    index = torch.where(steps <= last, last - steps, steps)  # (B, T)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))
