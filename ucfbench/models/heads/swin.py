"""Shifted-window temporal transformer (``model=swin``): Swin's mechanics along the time axis.

Swin (Liu et al., 2021) attends within non-overlapping windows, alternates blocks whose windows
are shifted by half a window (a cyclic shift plus an attention mask, so the wrapped-around steps
never see each other), adds a learned bias per relative position inside a window, and merges
neighbouring patches between stages. Here the "image" is the (B, T, D) sequence of frame features:
windows and merges run over time. Small functions first, then the blocks, the whole head last.

Padding rule (exact invariance). The sequence is zero-padded to a multiple of
``window * 2**(stages - 1)``. Windows (shifted or not) are aligned to step 0, so the windows that
hold a sample's valid steps are the same whatever the padded length; a valid query never attends
to a padded key; padded steps are zeroed before every merge, and a merged step is valid iff its
first (earlier) step was, i.e. the valid length becomes ``ceil(L / 2)``. The window and the shift
never depend on the padded length (Swin drops the shift when a stage fits in one window; that
would make a sample's output depend on how much its batch was padded). Together: the output on a
padded batch equals running each sample alone, unpadded.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ucfbench.models.heads.masking import check_lengths, masked_mean, valid_mask
from ucfbench.models.heads.positional import SinusoidalPositionalEncoding


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, T, C) -> (B * T/window, window, C), consecutive steps per window."""
    b, t, c = x.shape
    assert t % window == 0, f"length {t} is not a multiple of the window {window}"
    return x.reshape(b * (t // window), window, c)  # (B*nW, w, C)


def window_reverse(windows: torch.Tensor, batch: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B * nW, window, C) -> (B, T, C)."""
    n, w, c = windows.shape
    assert n % batch == 0, f"{n} windows do not split into a batch of {batch}"
    return windows.reshape(batch, (n // batch) * w, c)  # (B, T, C)


def relative_position_index(window: int) -> torch.Tensor:
    """(w, w) index into a (2w - 1)-row bias table: ``i - j + w - 1`` for query i, key j."""
    steps = torch.arange(window)
    return steps[:, None] - steps[None, :] + window - 1  # (w, w)


def shift_region_mask(length: int, window: int, shift: int) -> torch.Tensor:
    """(nW, w, w) bool, True where query and key lie in different regions of the shifted sequence.

    After rolling the sequence left by ``shift``, the last window holds the sequence's last
    ``window - shift`` steps and, wrapped around, its first ``shift`` steps; they must not attend
    to each other. Regions (in shifted coordinates): ``[0, T - w)``, ``[T - w, T - s)``, ``[T - s, T)``.
    """
    assert length % window == 0, f"length {length} is not a multiple of the window {window}"
    region = torch.zeros(length, dtype=torch.long)
    if shift > 0:
        region[length - window : length - shift] = 1
        region[length - shift :] = 2
    region = region.view(length // window, window)  # (nW, w)
    return region[:, :, None] != region[:, None, :]  # (nW, w, w)


def window_attention_mask(valid: torch.Tensor, window: int, shift: int) -> torch.Tensor:
    """(B * nW, w, w) bool, True where a query may not attend to a key.

    ``valid`` (B, T) is already in the (rolled) coordinates of the windows. Blocked: keys in
    another shift region, and padded keys; never the diagonal, so a padded query (whose output
    is thrown away) attends to itself rather than to nothing, which would give NaN.
    """
    b, t = valid.shape
    blocked = shift_region_mask(t, window, shift).to(valid.device).repeat(b, 1, 1)  # (B*nW, w, w)
    key_valid = valid.reshape(b * (t // window), 1, window)  # (B*nW, 1, w)
    eye = torch.eye(window, dtype=torch.bool, device=valid.device)
    return (blocked | ~key_valid) & ~eye


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, plus a learned relative-position bias."""

    def __init__(self, *, dim: int, num_heads: int, window: int) -> None:
        super().__init__()
        assert dim % num_heads == 0, f"dim ({dim}) must be divisible by num_heads ({num_heads})"
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros(2 * window - 1, num_heads))  # one bias per offset and head
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        self.register_buffer("bias_index", relative_position_index(window), persistent=False)

    def forward(self, x: torch.Tensor, blocked: torch.Tensor) -> torch.Tensor:
        n, w, c = x.shape
        q, k, v = self.qkv(x).view(n, w, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)  # 3 x (N, h, w, hd)
        bias = self.bias_table[self.bias_index].permute(2, 0, 1)  # (h, w, w)
        scores = (q @ k.transpose(-2, -1)) * self.scale + bias  # (N, h, w, w)
        scores = scores.masked_fill(blocked[:, None], float("-inf"))
        out = scores.softmax(-1) @ v  # (N, h, w, hd)
        return self.proj(out.transpose(1, 2).reshape(n, w, c))  # (N, w, C)


class SwinBlock(nn.Module):
    """Pre-norm block: (shifted) window attention, then an MLP, each with a residual."""

    def __init__(self, *, dim: int, num_heads: int, window: int, shift: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        assert 0 <= shift < window, f"shift must be in [0, window), got {shift} for window {window}"
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim=dim, num_heads=num_heads, window=window)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        h = self.norm1(x)
        if self.shift:  # cyclic shift left: the next windows straddle this block's neighbours' borders
            h, valid = h.roll(-self.shift, dims=1), valid.roll(-self.shift, dims=1)
        blocked = window_attention_mask(valid, self.window, self.shift)  # (B*nW, w, w)
        h = window_reverse(self.attn(window_partition(h, self.window), blocked), b)  # (B, T, C)
        if self.shift:
            h = h.roll(self.shift, dims=1)
        x = x + self.dropout(h)
        return x + self.dropout(self.mlp(self.norm2(x)))


class TemporalMerging(nn.Module):
    """Concatenate neighbouring step pairs, LayerNorm, Linear: T halves, channels double."""

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(2 * dim)
        self.reduction = nn.Linear(2 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, c = x.shape
        assert t % 2 == 0, f"temporal merging needs an even length, got {t}"
        x = x * valid.unsqueeze(-1).to(x.dtype)  # padded steps contribute zeros, never their values
        x = x.reshape(b, t // 2, 2 * c)  # (B, T/2, 2C): steps 2i and 2i+1 side by side
        return self.reduction(self.norm(x)), valid[:, 0::2]  # valid iff its first step was


class SwinTemporalHead(nn.Module):
    """A real shifted-window temporal transformer over frame features.

    Seed 003's public code (NoobML/ucf50-action-recognition, ``swin_transformer.py``) called a
    single full-attention post-norm block with no windows, no shift, no relative bias and no
    merging a "Swin Transformer" (4.23M parameters with 2048-d inputs and 50 classes). This head
    is the real thing along time: linear embedding + LayerNorm; stages of blocks alternating
    regular and half-window-shifted windows (cyclic shift + mask) with relative position bias;
    temporal merging (pairs of steps -> one, channels doubled) between stages; final LayerNorm,
    masked mean over the valid steps, linear classifier. With the defaults (2 stages of 2 blocks,
    widths 192 and 384, window 4) it has 4.97M parameters for 2048-d inputs and 50 classes.
    See the module docstring for the padding rule that makes it exactly padding-invariant.

    Args:
        input_dim: feature size D.
        num_classes: number of classes C.
        embed_dim: width of the first stage; each merge doubles it.
        depths: blocks per stage (alternating regular / shifted windows).
        num_heads: attention heads per stage.
        window: window length in steps at every stage (the shift is ``window // 2``).
        mlp_ratio: MLP hidden size over the block width.
        dropout: dropout on the residual branches and before the classifier.
        input_dropout: dropout on the input features.
        absolute_position: add a sinusoidal encoding of the step index after the embedding
            (Swin's ``ape`` option). Without it the only position signal is the relative bias.
    """

    def __init__(
        self,
        *,
        input_dim: int,
        num_classes: int,
        embed_dim: int = 192,
        depths: tuple[int, ...] = (2, 2),
        num_heads: tuple[int, ...] = (6, 12),
        window: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.1,
        input_dropout: float = 0.0,
        absolute_position: bool = True,
    ) -> None:
        super().__init__()
        depths, num_heads = tuple(depths), tuple(num_heads)
        assert len(depths) == len(num_heads) >= 1, f"one num_heads per stage: depths {depths}, num_heads {num_heads}"
        assert window >= 2, f"window must be >= 2, got {window}"
        self.window = window
        self.multiple = window * 2 ** (len(depths) - 1)  # every stage's length stays a multiple of the window
        self.input_dropout = nn.Dropout(input_dropout)
        self.embed = nn.Linear(input_dim, embed_dim)
        self.embed_norm = nn.LayerNorm(embed_dim)
        self.pos = SinusoidalPositionalEncoding(dim=embed_dim) if absolute_position else nn.Identity()
        self.stages = nn.ModuleList()
        self.merges = nn.ModuleList()
        dim = embed_dim
        for i, (depth, heads) in enumerate(zip(depths, num_heads, strict=True)):
            if i > 0:
                self.merges.append(TemporalMerging(dim=dim))
                dim *= 2
            self.stages.append(nn.ModuleList(
                SwinBlock(dim=dim, num_heads=heads, window=window, shift=0 if j % 2 == 0 else window // 2,
                          mlp_ratio=mlp_ratio, dropout=dropout)
                for j in range(depth)
            ))
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        _, t = check_lengths(x, lengths)
        padded = math.ceil(t / self.multiple) * self.multiple
        valid = valid_mask(lengths, padded)  # (B, Tp)
        h = self.pos(self.embed_norm(self.embed(self.input_dropout(x))))  # (B, T, C)
        h = F.pad(h, (0, 0, 0, padded - t)) * valid.unsqueeze(-1).to(h.dtype)  # (B, Tp, C), padding zeroed
        for i, blocks in enumerate(self.stages):
            if i > 0:
                h, valid = self.merges[i - 1](h, valid)  # (B, Tp / 2^i, C * 2^i)
            for block in blocks:
                h = block(h, valid)
        lengths = valid.sum(1)  # ceil(L / 2^(stages - 1))
        return self.fc(self.dropout(masked_mean(self.norm(h), lengths)))  # (B, C_last) -> (B, C)
