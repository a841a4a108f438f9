"""Sequence heads over per-frame features.

Every head has the same contract: ``forward(x: (B, T, D), lengths: (B,)) -> logits (B, C)``,
keyword-only ``input_dim`` and ``num_classes``, and padded steps (``t >= lengths[b]``) never
change its output. Adding a head is one file here plus one ``conf/model/<name>.yaml``.
"""
