"""Frozen-backbone per-frame features: the backbone, the cache, and its extraction."""
