"""LightningModules and networks."""
