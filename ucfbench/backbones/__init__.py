"""Frozen frame encoders: (B, T, 3, H, W) frames -> (B, T, D) per-frame features."""
