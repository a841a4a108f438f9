"""The video classifier (encoder + head), its heads, and the LightningModule that trains it."""
