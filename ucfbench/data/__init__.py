"""Datasets, split protocols, video reading, frame sampling and clip transforms."""
