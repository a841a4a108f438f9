"""The one way the suite runs an RNN over valid steps (:class:`ValidStepRNN`), and the recurrent heads' body."""

from __future__ import annotations

import torch
from torch import nn

from ucfbench.models.heads.masking import reverse_within_length


class ValidStepRNN(nn.Module):
    """A stacked, optionally bidirectional RNN that reads each sequence's valid steps only.

    One single-layer RNN per layer and direction, the backward one over each sequence reversed within
    its length (padding follows the valid steps: it never reaches a state that is read). No packing,
    so the same module trains and exports to ONNX; parameters come in ``nn.RNNBase``'s order, so a
    seed gives ``cell(..., num_layers, bidirectional)``'s initial weights, and that module's
    ``state_dict`` (``weight_ih_l1_reverse``, ...) loads into it.

    Args:
        cell: ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``.
        input_dim: feature size D.
        hidden_dim: state size H per direction.
        num_layers: stacked layers.
        bidirectional: add a backward direction (outputs 2H).
        dropout: on each layer's output but the last's, while training (as ``nn.RNNBase``).
    """

    def __init__(self, cell: type[nn.RNNBase], input_dim: int, hidden_dim: int, *, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        dirs = 2 if bidirectional else 1
        self.bidirectional, self.hidden_size = bidirectional, hidden_dim  # nn.RNNBase names
        self.out_dim = dirs * hidden_dim
        self.layers = nn.ModuleList(
            nn.ModuleList(cell(input_dim if k == 0 else self.out_dim, hidden_dim, batch_first=True) for _ in range(dirs))
            for k in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout if num_layers > 1 else 0.0)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args) -> None:
        # A checkpoint of an nn.RNNBase (``weight_ih_l1_reverse``): each layer and direction's weights
        # are its own one-layer RNN's ``*_l0``.
        for k in range(len(self.layers)):
            for d, suffix in enumerate(["", "_reverse"] if self.bidirectional else [""]):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    old = f"{prefix}{name}_l{k}{suffix}"
                    if old in state_dict:
                        state_dict[f"{prefix}layers.{k}.{d}.{name}_l0"] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, T, dirs*H) outputs; steps ``t >= lengths[b]`` hold padding."""
        lengths = lengths.to(x.device)
        h = x
        for k, directions in enumerate(self.layers):
            if k:
                h = self.dropout(h)
            out = directions[0](h)[0]  # (B, T, H)
            if self.bidirectional:
                back = directions[1](reverse_within_length(h, lengths))[0]
                out = torch.cat([out, reverse_within_length(back, lengths)], dim=-1)  # (B, T, 2H)
            h = out
        return h

    def final_state(self, outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, dirs*H) outputs -> (B, dirs*H): the forward state after the last valid step and
        the backward state after step 0 (where its reversed reading ends)."""
        last = (lengths.to(outputs.device, torch.int64) - 1).clamp(min=0).view(-1, 1, 1)  # (B, 1, 1)
        forward = outputs[..., : self.hidden_size].gather(1, last.expand(-1, 1, self.hidden_size)).squeeze(1)  # (B, H)
        if not self.bidirectional:
            return forward
        return torch.cat([forward, outputs[:, 0, self.hidden_size :]], dim=-1)  # (B, 2H)


class RecurrentHead(nn.Module):
    """RNN/LSTM/GRU over (B, T, D) features, classified from the final hidden state.

    With ``hidden_dim=512`` and 2048-d inputs the parameter counts are those of the UCF50 write-up's
    heads (e.g. GRU 3.96M for 50 classes): the RNN, dropout, and one linear layer.

    Args:
        input_dim: feature size D.
        num_classes: number of classes C.
        hidden_dim: RNN state size per direction.
        num_layers: stacked RNN layers.
        dropout: dropout before the classifier (and between stacked layers).
        bidirectional: run a second RNN backwards over the valid steps.
        input_dropout: dropout on the input features (regularises against appearance cues).
    """

    cell: type[nn.RNNBase] = nn.GRU

    def __init__(
        self,
        *,
        input_dim: int,
        num_classes: int,
        hidden_dim: int = 512,
        num_layers: int = 1,
        dropout: float = 0.3,
        bidirectional: bool = False,
        input_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.rnn = ValidStepRNN(self.cell, input_dim, hidden_dim, num_layers=num_layers,
                                bidirectional=bidirectional, dropout=dropout)
        self.input_dropout = nn.Dropout(input_dropout)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.rnn.out_dim, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        outputs = self.rnn(self.input_dropout(x), lengths)  # (B, T, dirs*H)
        return self.fc(self.dropout(self.rnn.final_state(outputs, lengths)))  # (B, C)
