"""The published protocols (``experiment=dinov2_*``): their config, and a tiny random-weight run through the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_cfg
from ucfbench.eval import published


@pytest.mark.parametrize(("experiment", "dataset", "head"), [("dinov2_ucf101", "UCF101", "MeanPoolHead"),
                                                             ("dinov2_ssv2", "SSv2", "LinearConcatHead")])
def test_dinov2_experiments_are_the_papers_protocol(experiment: str, dataset: str, head: str, tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, [f"experiment={experiment}"])
    assert cfg.dataset._target_.endswith(f".{dataset}") and cfg.model.net._target_.endswith(f".{head}")
    assert cfg.features.sampler._target_.endswith(".UniformSampler") and cfg.features.sampler.num_frames == 8
    assert cfg.hydra.sweeper.params.features == "dinov2_vits14,dinov2_vitb14"
    if head == "MeanPoolHead":  # a linear probe: no hidden layer
        assert cfg.model.net.hidden_dim == 0 and cfg.model.net.dropout == 0
    for backbone in ("dinov2_vits14", "dinov2_vitb14"):
        features = make_cfg(tmp_path, [f"experiment={experiment}", f"features={backbone}"]).features
        assert features.pool == "cls_mean" and features.size == 224
        probe = "linear_mean" if head == "MeanPoolHead" else "linear_concat"
        key = (dataset.lower(), "official", features.model, probe, 8)
        assert key in published.PUBLISHED  # the experiment's runs find their published number


@pytest.mark.slow
def test_tiny_random_weight_run_is_reported_beside_its_published_number(tiny_home: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from ucfbench.report import write_report
    from ucfbench.run import train

    run_dir = tmp_path / "sweep" / "0"
    # The SSv2 protocol on the tiny synthetic set with a tiny random ViT (no download).
    metrics = train(make_cfg(tiny_home, ["experiment=dinov2_ssv2", "debug=tiny", "dataset=synthetic", "features=timm",
                                         "features.model=test_vit", "features.pool=cls_mean", "trainer=cpu"],
                             run_dir=run_dir))
    assert metrics["model"] == "linear_concat" and metrics["features"]["model"] == "test_vit"
    assert {"top1_reversed", "top1_shuffled", "reversal_flip_rate", "reversed_to_partner"} <= metrics.keys()
    key = ("synthetic", metrics["protocol"], "test_vit", "linear_concat", 8)
    monkeypatch.setitem(published.PUBLISHED, key, (0.5, "a stand-in paper"))
    row = write_report(tmp_path / "sweep", plots=False)["rows"][0]
    assert (row["published_top1"], row["published_source"]) == (0.5, "a stand-in paper")
    assert "| linear_concat | " in (tmp_path / "sweep" / "report.md").read_text().split("published top-1 (%)")[1]


def test_linear_concat_follows_the_samplers_frames(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, ["experiment=dinov2_ssv2", "features.sampler.num_frames=4"])
    assert cfg.model.net.num_frames == 4
