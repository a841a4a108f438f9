"""Frame encoders, (B, T, 3, H, W) frames -> (B, T, D) per-frame features: frozen (the feature cache) or trained with a head."""
