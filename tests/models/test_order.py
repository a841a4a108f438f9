"""The order perturbations: valid frames reversed or shuffled, padding never moves; DDP-gathered outputs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from ucfbench.models.heads.linear_concat import LinearConcatHead
from ucfbench.models.heads.mean_pool import MeanPoolHead
from ucfbench.models.module import ActionClassifier
from ucfbench.models.order import order_probs, perturb, reversal_index, shuffle_index

B, T, D = 4, 6, 3
LENGTHS = torch.tensor([6, 4, 1, 2])


def _steps(b: int = B, t: int = T) -> torch.Tensor:
    """(B, T, D) whose value at step t is t (and the video's number in the last channel)."""
    x = torch.arange(t, dtype=torch.float32).view(1, t, 1).repeat(b, 1, D)
    x[..., -1] = torch.arange(b, dtype=torch.float32).view(b, 1)
    return x


def test_reversal_reverses_valid_steps_and_leaves_padding() -> None:
    out = perturb(_steps(), LENGTHS, "reversed")
    assert out[0, :, 0].tolist() == [5, 4, 3, 2, 1, 0]
    assert out[1, :, 0].tolist() == [3, 2, 1, 0, 4, 5]
    assert out[2, :, 0].tolist() == [0, 1, 2, 3, 4, 5]  # one frame: nothing to reverse
    assert out[3, :, 0].tolist() == [1, 0, 2, 3, 4, 5]
    assert torch.equal(out[..., -1], _steps()[..., -1])  # frames stay within their video
    assert torch.equal(perturb(out, LENGTHS, "reversed"), _steps())  # an involution


def test_shuffle_permutes_valid_steps_only_seeded_by_the_video_key() -> None:
    keys = torch.tensor([10, 11, 12, 13])
    out = perturb(_steps(), LENGTHS, "shuffled", keys=keys)
    for b, n in enumerate(LENGTHS.tolist()):
        assert sorted(out[b, :n, 0].tolist()) == list(range(n))  # a permutation of the valid steps
        assert out[b, n:, 0].tolist() == list(range(n, T))  # padding in place
    assert out[0, :, 0].tolist() != list(range(T))  # T=6 shuffled: not the identity for this key
    # The same key gives the same order whatever the batch: a video alone, or in another position.
    alone = perturb(_steps(1), LENGTHS[:1], "shuffled", keys=keys[:1])
    assert torch.equal(alone, out[:1])
    swapped = perturb(_steps()[[1, 0]], LENGTHS[[1, 0]], "shuffled", keys=keys[[1, 0]])
    assert torch.equal(swapped[:, :, 0], out[[1, 0], :, 0])
    other = shuffle_index(LENGTHS[:1], T, torch.tensor([99]))
    assert not torch.equal(other, shuffle_index(LENGTHS[:1], T, keys[:1]))  # another key, another order


def test_views_and_pixels_share_the_videos_order() -> None:
    # (B, V, T, 3, H, W) clips of the end-to-end model: every view reversed the same way, on dim 2.
    x = torch.arange(T, dtype=torch.float32).view(1, 1, T, 1, 1, 1).expand(2, 3, T, 3, 2, 2).clone()
    out = perturb(x, torch.tensor([T, 3]), "reversed")
    assert out[0, :, :, 0, 0, 0].tolist() == [[5, 4, 3, 2, 1, 0]] * 3
    assert out[1, :, :, 1, 1, 1].tolist() == [[2, 1, 0, 3, 4, 5]] * 3
    # (B, T, 3, H, W): one view
    assert perturb(x[:, 0], torch.tensor([T, 3]), "reversed")[1, :, 0, 0, 0].tolist() == [2, 1, 0, 3, 4, 5]


def test_lengths_longer_than_the_tensor_and_unknown_perturbation() -> None:
    assert reversal_index(torch.tensor([9]), 4).tolist() == [[3, 2, 1, 0]]
    with pytest.raises(ValueError, match="unknown perturbation"):
        perturb(_steps(), LENGTHS, "mirrored")


def test_order_probs_of_an_order_blind_head_equal_the_forward_ones() -> None:
    torch.manual_seed(0)
    head = MeanPoolHead(input_dim=D, num_classes=5, hidden_dim=0, dropout=0.0).eval()
    batch = {"x": torch.randn(B, T, D), "lengths": LENGTHS, "label": torch.zeros(B, dtype=torch.long),
             "index": torch.arange(B)}
    out = order_probs(head, batch)
    forward = head(batch["x"], LENGTHS).softmax(-1)
    torch.testing.assert_close(out["probs_reversed"], forward)
    torch.testing.assert_close(out["probs_shuffled"], forward)


def _module(num_classes: int = 5) -> ActionClassifier:
    torch.manual_seed(0)
    net = LinearConcatHead(input_dim=D, num_classes=num_classes, num_frames=T)  # sees order
    return ActionClassifier(net=net, optimizer=torch.optim.SGD, num_classes=num_classes).eval()


def test_test_outputs_carry_the_order_probabilities_through_the_ddp_gather(monkeypatch) -> None:
    """Two ranks' test outputs, the last video repeated by the distributed sampler's padding."""
    module = _module()
    x, labels = torch.randn(5, T, D), torch.tensor([0, 1, 2, 3, 4])
    lengths = torch.tensor([6, 4, 1, 2, 5])
    shards = {0: [0, 2, 4], 1: [1, 3, 4]}  # rank -> video indices (4 twice: the sampler's padding)
    per_rank = []
    for idx in shards.values():
        module.on_test_epoch_start()
        idx = torch.tensor(idx)
        module._test_outputs.append({"probs": module(x[idx], lengths[idx]).softmax(-1), "label": labels[idx],
                                     "index": idx, **order_probs(module, {"x": x[idx], "lengths": lengths[idx],
                                                                          "label": labels[idx], "index": idx})})
        per_rank.append(module._test_outputs)
    # Rank 0's view of the gather: every rank's outputs stacked on a new first axis (world, ...).
    gathered = {k: torch.stack([torch.cat([o[k] for o in outs]) for outs in per_rank]) for k in per_rank[0][0]}
    module._test_outputs = per_rank[0]
    monkeypatch.setattr(ActionClassifier, "trainer", property(lambda self: SimpleNamespace(world_size=2)))
    rank0 = {k: torch.cat([o[k] for o in per_rank[0]]) for k in per_rank[0][0]}
    monkeypatch.setattr(module, "all_gather",
                        lambda value: next(gathered[k] for k, v in rank0.items() if v is value or torch.equal(v, value)))
    module.on_test_epoch_end()

    out = module.test_outputs
    assert out["index"].tolist() == [0, 1, 2, 3, 4]  # every video once, in order
    assert not torch.allclose(out["probs_reversed"], out["probs"])  # an order-aware head: they differ
    alone = order_probs(module, {"x": x, "lengths": lengths, "label": labels, "index": torch.arange(5)})
    for key in ("probs_reversed", "probs_shuffled"):
        torch.testing.assert_close(out[key], alone[key])  # same perturbation whatever the rank or batch


@pytest.mark.slow
def test_an_order_blind_run_keeps_every_prediction(tiny_cfg) -> None:
    """End to end (fit, test, result files): mean pooling's predictions survive reversal and shuffling."""
    from ucfbench.run import train

    metrics = train(tiny_cfg("model=mean_pool"))
    assert metrics["top1_reversed"] == metrics["top1_shuffled"] == metrics["top1"]
    assert metrics["reversal_flip_rate"] == 0.0 and "reversed_to_partner" in metrics  # Grow/Shrink is a reversed pair
