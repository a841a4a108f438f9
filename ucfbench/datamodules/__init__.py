"""LightningDataModules: cached features for sequence heads, decoded clips for end-to-end models."""

from __future__ import annotations

from collections.abc import Mapping

# What a model reads -> the DataModule that serves it (the `data` group's class).
DATAMODULES = {
    "features": "ucfbench.datamodules.feature_datamodule.FeatureDataModule",
    "clips": "ucfbench.datamodules.clip_datamodule.ClipDataModule",
}


def model_input(cfg: Mapping) -> str:
    """``clips`` for a model with its own encoder (``model.encoder``), ``features`` for a head on
    cached features, checked against the ``data`` group that serves it. The one place that decides."""
    kind = "clips" if cfg["model"].get("encoder") else "features"
    data = cfg.get("data")
    if data is not None and data.get("_target_") not in (None, DATAMODULES[kind]):
        other = next((k for k, v in DATAMODULES.items() if v == data["_target_"]), data["_target_"])
        has = "has its own encoder (model.encoder) and reads clips" if kind == "clips" else "reads cached features"
        raise ValueError(f"the model {has} but data={other} is selected; use data={kind} "
                         f"(or drop the data= override: the model selects it)")
    return kind
