"""Order perturbations of a batch: each video's valid frames reversed or shuffled, padding in place.

Pure functions over ``(x, lengths)``; :func:`order_probs` runs a classifier on both perturbations of
a test batch (the order diagnostics, ``docs/order.md``). Only the first ``lengths[b]`` steps of a
video move; the padding after them stays where it is, so a head that ignores padding sees the same
valid frames in another order and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ucfbench.data.types import Batch

# The shuffle of video i is drawn from a generator seeded with SHUFFLE_SEED and i: the same order for
# every head, seed and run on the same test list (paired comparisons), whatever the batch or the rank.
SHUFFLE_SEED = 20_250_101
PERTURBATIONS = ("reversed", "shuffled")


def reversal_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) int64 source step of each step: ``L-1 .. 0`` then the padding unchanged."""
    t = torch.arange(steps, device=lengths.device).unsqueeze(0)  # (1, T)
    last = lengths.to(torch.int64).clamp(max=steps).unsqueeze(1) - 1  # (B, 1)
    return torch.where(t <= last, last - t, t)  # (B, T)


def shuffle_index(lengths: torch.Tensor, steps: int, keys: torch.Tensor, *, seed: int = SHUFFLE_SEED) -> torch.Tensor:
    """(B,) lengths -> (B, T) int64: a seeded random permutation of each video's valid steps, padding unchanged.

    Args:
        lengths: (B,) valid steps per video.
        steps: T.
        keys: (B,) int64 per-video keys (the video's index in its split): equal keys, equal shuffles.
        seed: the generator's base seed.
    """
    assert keys.shape == lengths.shape, f"one key per video: keys {tuple(keys.shape)}, lengths {tuple(lengths.shape)}"
    index = torch.arange(steps).repeat(len(lengths), 1)  # (B, T), built on the CPU: one generator per video
    for b, (n, key) in enumerate(zip(lengths.tolist(), keys.tolist())):
        n = min(int(n), steps)
        gen = torch.Generator().manual_seed(seed * 1_000_003 + int(key))
        index[b, :n] = torch.randperm(n, generator=gen)
    return index.to(lengths.device)


def permute_time(x: torch.Tensor, index: torch.Tensor, *, time_dim: int = 1) -> torch.Tensor:
    """Reorder ``x`` along ``time_dim`` by a per-video (B, T) source index.

    ``x`` is (B, T, ...) or, with views, (B, V, T, ...) (``time_dim=2``: every view of a video gets
    the video's order).
    """
    b, t = index.shape
    assert x.shape[0] == b and x.shape[time_dim] == t, f"index {(b, t)} does not match x {tuple(x.shape)} at dim {time_dim}"
    view = [b] + [1] * (time_dim - 1) + [t] + [1] * (x.ndim - time_dim - 1)
    return x.gather(time_dim, index.view(view).expand_as(x))


def perturb(x: torch.Tensor, lengths: torch.Tensor, how: str, *, keys: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` with each video's valid steps ``reversed`` or ``shuffled`` (seeded by ``keys``)."""
    time_dim = 2 if x.ndim in (4, 6) else 1  # (B, V, T, D) / (B, V, T, 3, H, W): views of each video
    steps = x.shape[time_dim]
    if how == "reversed":
        index = reversal_index(lengths, steps)
    elif how == "shuffled":
        assert keys is not None, "a shuffle needs the videos' keys (batch['index'])"
        index = shuffle_index(lengths, steps, keys)
    else:
        raise ValueError(f"unknown perturbation {how!r}: expected one of {PERTURBATIONS}")
    return permute_time(x, index.to(x.device), time_dim=time_dim)


@torch.no_grad()
def order_probs(classify: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], batch: Batch) -> dict[str, torch.Tensor]:
    """``probs_reversed`` and ``probs_shuffled``: (B, C) class probabilities of the perturbed batch."""
    return {
        f"probs_{how}": classify(perturb(batch["x"], batch["lengths"], how, keys=batch["index"]), batch["lengths"])
        .float().softmax(-1)
        for how in PERTURBATIONS
    }
