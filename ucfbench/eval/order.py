"""Order diagnostics of a run's test predictions: does the head use the order of the frames?

From the test probabilities of each video forward, with its valid frames reversed and shuffled
(:mod:`ucfbench.models.order`), compute the scalars written to ``metrics.json`` and the per-class /
per-pair tables written beside it. See ``docs/order.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch in order_metrics only: the report reads ORDER_KEYS without it
    import torch

ORDER_KEYS = ("top1_reversed", "top1_shuffled", "reversal_flip_rate", "reversed_to_partner")
REVERSED_KIND = "reversed"  # the pair kind whose classes are each other played backwards


def reversed_partners(classes: list[str], pairs: list[dict]) -> dict[int, int]:
    """Class index -> its time-reversed partner's index, for every pair of kind ``reversed``."""
    index = {name: i for i, name in enumerate(classes)}
    out = {}
    for pair in pairs:
        if pair["kind"] == REVERSED_KIND:
            a, b = (index[name] for name in pair["classes"])
            out[a], out[b] = b, a
    return out


def order_metrics(
    probs: torch.Tensor, probs_reversed: torch.Tensor, probs_shuffled: torch.Tensor, labels: torch.Tensor,
    *, classes: list[str], pairs: list[dict],
) -> tuple[dict[str, float], list[list], list[list]]:
    """The order scalars, and the per-class and per-pair rows (header first).

    Returns:
        ``metrics``: ``top1_reversed``, ``top1_shuffled``, ``reversal_flip_rate`` (share of test
        videos whose prediction changes when reversed) and, where reversed pairs have test videos,
        ``reversed_to_partner`` (share of those videos predicted, reversed, as the partner class);
        ``per_class``: class, support, top-1 forward / reversed / shuffled, flip rate;
        ``per_pair``: pair, kind, videos, within-pair accuracy reversed, reversed-to-partner.
    """
    import torch

    pred, pred_rev, pred_shuf = probs.argmax(1), probs_reversed.argmax(1), probs_shuffled.argmax(1)
    right = lambda p: (p == labels).float()  # noqa: E731
    flip = (pred_rev != pred).float()
    metrics = {
        "top1_reversed": right(pred_rev).mean().item(),
        "top1_shuffled": right(pred_shuf).mean().item(),
        "reversal_flip_rate": flip.mean().item(),
    }
    partner = reversed_partners(classes, pairs)
    to_partner = torch.tensor([partner.get(int(y), -1) for y in labels], dtype=torch.long)
    on_pair = to_partner >= 0
    if on_pair.any():
        metrics["reversed_to_partner"] = (pred_rev[on_pair] == to_partner[on_pair]).float().mean().item()

    def fmt(values: torch.Tensor) -> str:
        return f"{values.mean().item():.4f}" if values.numel() else ""

    per_class = [["class", "index", "support", "top1", "top1_reversed", "top1_shuffled", "reversal_flip_rate"]]
    for i, name in enumerate(classes):
        mine = labels == i
        per_class.append([name, i, int(mine.sum()), fmt(right(pred)[mine]), fmt(right(pred_rev)[mine]),
                          fmt(right(pred_shuf)[mine]), fmt(flip[mine])])

    from ucfbench.eval.metrics import within_pair_accuracy  # torchmetrics: not for readers of ORDER_KEYS

    within = within_pair_accuracy(probs_reversed, labels, classes, pairs)
    index = {name: i for i, name in enumerate(classes)}
    per_pair = [["pair", "kind", "videos", "within_pair_reversed", "reversed_to_partner"]]
    for pair in pairs:
        name = "/".join(pair["classes"])
        a, b = (index[c] for c in pair["classes"])
        mine = (labels == a) | (labels == b)
        other = torch.where(labels[mine] == a, b, a)
        per_pair.append([name, pair["kind"], int(mine.sum()), f"{within[name]['acc']:.4f}" if name in within else "",
                         fmt((pred_rev[mine] == other).float())])
    return metrics, per_class, per_pair
