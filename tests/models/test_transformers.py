"""The attention heads' parts: shifted-window masks, padding rules, sizes, and the LR schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from tests.conftest import make_cfg
from ucfbench.models.heads.swin import (
    SwinTemporalHead,
    relative_position_index,
    shift_region_mask,
    window_attention_mask,
    window_partition,
    window_reverse,
)
from ucfbench.models.heads.transformer import TransformerHead
from ucfbench.models.schedulers import warmup_cosine


# -- shifted windows --------------------------------------------------------------------------
def test_window_partition_round_trips() -> None:
    x = torch.randn(3, 16, 5)
    windows = window_partition(x, 4)
    assert windows.shape == (12, 4, 5)
    torch.testing.assert_close(windows[1], x[0, 4:8])  # consecutive steps per window
    torch.testing.assert_close(window_reverse(windows, 3), x)


def test_relative_position_index_covers_every_offset() -> None:
    index = relative_position_index(4)
    assert index[0, 0] == 3 and index[3, 0] == 6 and index[0, 3] == 0
    assert sorted(index.unique().tolist()) == list(range(7))


def test_unshifted_windows_need_no_region_mask() -> None:
    assert not shift_region_mask(16, 4, 0).any()


@pytest.mark.parametrize(("length", "window", "shift"), [(8, 4, 2), (16, 4, 2), (16, 8, 4), (12, 4, 1)])
def test_shifted_windows_are_a_partition_aligned_to_step_zero(length: int, window: int, shift: int) -> None:
    # Rolled left by `shift` and masked, the windows group the original steps as
    # [0, shift), [shift, shift + window), ..., [length - window + shift, length).
    blocked = shift_region_mask(length, window, shift)  # (nW, w, w), shifted coordinates
    original = torch.arange(length).roll(-shift).view(-1, window)  # original step at each shifted slot
    group = torch.where(torch.arange(length) < shift, -1, (torch.arange(length) - shift) // window)
    for w in range(length // window):
        for i in range(window):
            for j in range(window):
                same = bool(group[original[w, i]] == group[original[w, j]])
                assert bool(blocked[w, i, j]) == (not same), (w, i, j)


def test_attention_mask_blocks_padded_keys_but_never_the_diagonal() -> None:
    valid = torch.tensor([[True] * 6 + [False] * 2])  # (1, 8): two padded steps
    blocked = window_attention_mask(valid, 4, 0)  # (2, 4, 4)
    assert not blocked[0].any()  # first window: all valid
    assert blocked[1][:2, 2:].all() and not blocked[1][:2, :2].any()  # valid queries skip padded keys
    assert not blocked.diagonal(dim1=1, dim2=2).any()  # a padded query still sees itself: no NaN rows


# -- whole heads ------------------------------------------------------------------------------
@pytest.mark.parametrize("head_cls", [SwinTemporalHead, TransformerHead])
def test_padding_invariance_for_awkward_lengths(head_cls: type) -> None:
    # Lengths around the Swin padding multiple (8 with the defaults) and a batch padded past it.
    torch.manual_seed(0)
    kwargs = {"embed_dim": 16, "num_heads": (2, 4)} if head_cls is SwinTemporalHead else {"d_model": 16, "num_heads": 2, "dim_feedforward": 32}
    net = head_cls(input_dim=6, num_classes=3, **kwargs).eval()
    lengths = torch.tensor([37, 16, 9, 8, 7, 2, 1])
    x = torch.randn(len(lengths), 37, 6)
    with torch.no_grad():
        batch = net(x, lengths)
        for b, n in enumerate(lengths.tolist()):
            torch.testing.assert_close(batch[b : b + 1], net(x[b : b + 1, :n], torch.tensor([n])), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("head_cls", [SwinTemporalHead, TransformerHead])
def test_attention_heads_see_temporal_order(head_cls: type) -> None:
    torch.manual_seed(0)
    net = head_cls(input_dim=8, num_classes=4).eval()
    x, lengths = torch.randn(2, 16, 8), torch.tensor([16, 16])
    with torch.no_grad():
        assert not torch.allclose(net(x, lengths), net(x.flip(1), lengths), atol=1e-4)


def test_swin_merges_halve_time_and_double_width() -> None:
    net = SwinTemporalHead(input_dim=8, num_classes=3, embed_dim=16, depths=(1, 1, 1), num_heads=(2, 2, 4), window=2)
    assert net.multiple == 8 and net.fc.in_features == 64
    assert [m.reduction.in_features for m in net.merges] == [32, 64]
    assert net(torch.randn(2, 11, 8), torch.tensor([11, 3])).shape == (2, 3)


@pytest.mark.parametrize("absolute_position", [True, False])
def test_swin_absolute_position_adds_no_parameters_and_keeps_padding_inert(absolute_position: bool) -> None:
    torch.manual_seed(0)
    kw = {"input_dim": 8, "num_classes": 3, "embed_dim": 16, "depths": (1, 1), "num_heads": (2, 4), "window": 2}
    net = SwinTemporalHead(**kw, absolute_position=absolute_position).eval()
    other = SwinTemporalHead(**kw, absolute_position=not absolute_position).eval()
    other.load_state_dict(net.state_dict())  # same weights: the sinusoidal table is not a parameter
    x = torch.randn(2, 9, 8)
    padded = torch.cat([x, torch.randn(2, 4, 8)], dim=1)
    lengths = torch.tensor([9, 6])
    with torch.no_grad():
        out = net(x, lengths)
        torch.testing.assert_close(net(padded, lengths), out)  # padded steps never change the output
        assert not torch.allclose(other(x, lengths), out)  # the encoding reaches the output


def test_post_norm_transformer_is_exactly_the_seeds() -> None:
    # Seed 003: projection + 4 post-norm encoder layers + classifier, no final norm.
    net = TransformerHead(input_dim=2048, num_classes=50, norm_first=False)
    assert sum(p.numel() for p in net.parameters()) == 13_684_274
    assert net.encoder.norm is None and not net.encoder.layers[0].norm_first


# -- learning-rate schedule -------------------------------------------------------------------
def _lrs(scheduler_factory, epochs: int, lr: float = 1e-3) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = scheduler_factory(optimizer)
    lrs = []
    for _ in range(epochs + 1):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_warmup_cosine_rises_then_decays_to_eta_min() -> None:
    lrs = _lrs(lambda o: warmup_cosine(o, warmup_epochs=3, max_epochs=10, eta_min=1e-5), epochs=10)
    assert lrs[0] == pytest.approx(1e-5)  # warmup_start_factor 0.01 of 1e-3
    assert lrs[:4] == sorted(lrs[:4]) and lrs[3] == pytest.approx(1e-3)  # rises to the peak at the warmup's end
    assert lrs[3:] == sorted(lrs[3:], reverse=True)  # then only decays ...
    assert lrs[10] == pytest.approx(1e-5)  # ... to eta_min after max_epochs steps


def test_warmup_cosine_without_warmup_is_a_cosine() -> None:
    lrs = _lrs(lambda o: warmup_cosine(o, warmup_epochs=0, max_epochs=4), epochs=4)
    assert lrs == pytest.approx([1e-3, 8.5355e-4, 5e-4, 1.4645e-4, 0.0], abs=1e-7)


@pytest.mark.parametrize(("warmup", "total"), [(-1, 5), (2, 0)])
def test_warmup_cosine_rejects_bad_lengths(warmup: int, total: int) -> None:
    with pytest.raises(ValueError, match="warmup_epochs"):
        warmup_cosine(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), warmup_epochs=warmup, max_epochs=total)


def test_warmup_cosine_shortens_a_warmup_as_long_as_the_run() -> None:
    # A short (debug) run of a long-warmup recipe: warm up for all but the last epoch, then decay.
    lrs = _lrs(lambda o: warmup_cosine(o, warmup_epochs=5, max_epochs=3), epochs=3)
    assert lrs[0] == pytest.approx(1e-5) and lrs[2] == pytest.approx(1e-3) and lrs[3] == pytest.approx(0.0, abs=1e-9)


def test_transformer_config_builds_its_schedule(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, ["model=transformer", "trainer.max_epochs=7"])
    net = instantiate(cfg.model.net)(input_dim=8, num_classes=3)
    module = instantiate(cfg.model, net=net, num_classes=3, input_dim=8)
    scheduler = module.configure_optimizers()["lr_scheduler"]["scheduler"]
    assert isinstance(scheduler, torch.optim.lr_scheduler.SequentialLR)
    assert scheduler._schedulers[1].T_max == 7 - cfg.model.scheduler.warmup_epochs
