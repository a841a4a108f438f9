"""LightningDataModules: cached features for sequence heads, decoded clips for end-to-end models."""
