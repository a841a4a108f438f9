"""Export-friendly equivalents of modules whose training forward cannot be exported as is.

:class:`~ucfbench.models.heads.recurrent.RecurrentHead` stops every sequence at its length with
``pack_padded_sequence`` and skips packing when nothing is padded: a data-dependent branch and a
packed-sequence object that neither ONNX exporter can follow with a dynamic time axis.
:class:`UnpackedRecurrentHead` computes the same function from the same weights with plain
tensor ops: each layer and direction runs as its own one-layer RNN over the whole padded
sequence, the backward direction over each sample's valid steps reversed in place, and the
final state is gathered at step ``length - 1``. Padding only ever follows the valid steps, so
it never reaches a state that is read.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ucfbench.models.heads.masking import reverse_within_length
from ucfbench.models.heads.recurrent import RecurrentHead


def _single_layer(rnn: nn.RNNBase, layer: int, suffix: str) -> nn.RNNBase:
    """One layer and direction of ``rnn`` as its own unidirectional one-layer RNN (same weights)."""
    assert getattr(rnn, "proj_size", 0) == 0, "LSTM projections are not supported"
    input_size = rnn.input_size if layer == 0 else rnn.hidden_size * (2 if rnn.bidirectional else 1)
    kwargs = {"nonlinearity": rnn.nonlinearity} if isinstance(rnn, nn.RNN) else {}
    single = type(rnn)(input_size, rnn.hidden_size, num_layers=1, bias=rnn.bias, batch_first=True, **kwargs)
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if rnn.bias else [])
    with torch.no_grad():
        for name in names:
            getattr(single, f"{name}_l0").copy_(getattr(rnn, f"{name}_l{layer}{suffix}"))
    return single.to(next(rnn.parameters()).device)


class UnpackedRecurrentHead(nn.Module):
    """The function of a trained :class:`RecurrentHead` (eval mode), without packing."""

    def __init__(self, head: RecurrentHead) -> None:
        super().__init__()
        rnn = head.rnn
        assert rnn.batch_first, "RecurrentHead runs batch-first"
        self.bidirectional = rnn.bidirectional
        suffixes = ["", "_reverse"] if rnn.bidirectional else [""]
        self.layers = nn.ModuleList(
            nn.ModuleList(_single_layer(rnn, k, s) for s in suffixes) for k in range(rnn.num_layers)
        )
        self.fc = head.fc

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = x  # (B, T, D); dropout is the identity in eval mode
        for directions in self.layers:
            forward_out = directions[0](h)[0]  # (B, T, H)
            if self.bidirectional:
                backward_out = reverse_within_length(directions[1](reverse_within_length(h, lengths))[0], lengths)  # (B, T, H)
                h = torch.cat([forward_out, backward_out], dim=-1)  # (B, T, 2H)
            else:
                h = forward_out
        last = (lengths.to(torch.int64) - 1).clamp(min=0).view(-1, 1, 1)  # (B, 1, 1)
        final = forward_out.gather(1, last.expand(-1, 1, forward_out.shape[-1])).squeeze(1)  # (B, H)
        if self.bidirectional:
            # The backward direction ends at step 0 (it read steps length-1 .. 0).
            final = torch.cat([final, backward_out[:, 0]], dim=-1)  # (B, 2H)
        return self.fc(final)


def exportable(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` in eval mode with every recurrent head replaced by its unpacked twin."""
    module = copy.deepcopy(module).eval()
    if isinstance(module, RecurrentHead):
        return UnpackedRecurrentHead(module).eval()
    for name, child in list(module.named_modules()):
        if isinstance(child, RecurrentHead):
            parent_name, _, attr = name.rpartition(".")
            parent = module.get_submodule(parent_name) if parent_name else module
            setattr(parent, attr, UnpackedRecurrentHead(child).eval())
    return module
