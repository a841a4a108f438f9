"""Datasets, split protocols, video reading, sampling and the feature cache."""
