"""LightningDataModules: cached features for sequence heads, decoded clips for end-to-end models."""

from __future__ import annotations

from collections.abc import Mapping

# What a model reads (`model.input`) -> the DataModule that serves it (the `data` group's class).
DATAMODULES = {
    "features": "ucfbench.datamodules.feature_datamodule.FeatureDataModule",
    "clips": "ucfbench.datamodules.clip_datamodule.ClipDataModule",
}


def model_input(cfg: Mapping) -> str:
    """``features`` or ``clips``: what the run's model reads (``model.input``), checked against the
    ``data`` group that serves it. The one place that decides features or clips."""
    kind = cfg["model"].get("input", "features")
    if kind not in DATAMODULES:
        raise ValueError(f"model.input must be one of {sorted(DATAMODULES)}, got {kind!r}")
    data = cfg.get("data")
    if data is not None and data.get("_target_") not in (None, DATAMODULES[kind]):
        other = next((k for k, v in DATAMODULES.items() if v == data["_target_"]), data["_target_"])
        raise ValueError(f"model.input is {kind!r} but data={other} is selected; use data={kind} "
                         f"(or drop the data= override: the model selects it)")
    return kind
