"""Mixed precision as far as a CPU can test it: bf16-mixed training and extraction give 32-true's
top-1 within tolerance, and the 16-mixed configurations resolve to what a GPU needs."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader

from tests.conftest import make_cfg
from ucfbench.backbones.frame_encoder import FrameEncoder
from ucfbench.cache.extraction import FeatureExtractor
from ucfbench.datamodules.feature_datamodule import EpochOrder, InMemoryLoader
from ucfbench.utils import resolvers

T, D, CLASSES = 8, 32, 4


def _gpu(monkeypatch, bf16: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)


@pytest.mark.parametrize("bf16, expected", [(True, "bf16-mixed"), (False, "16-mixed")])
def test_trainer_gpu_resolves_to_the_cards_mixed_precision(tmp_path: Path, monkeypatch, bf16, expected) -> None:
    _gpu(monkeypatch, bf16)
    assert make_cfg(tmp_path, ["trainer=gpu"]).trainer.precision == expected


def test_seed_000_recipe_keeps_16_mixed_on_a_gpu_and_falls_back_on_a_cpu(tmp_path: Path, monkeypatch, caplog) -> None:
    _gpu(monkeypatch, bf16=True)
    cfg = make_cfg(tmp_path, ["experiment=seed_ucf101_cnn_rnn"])
    assert cfg.trainer.precision == "16-mixed"  # the recipe's own choice, even where bf16 exists
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.WARNING):
        assert resolvers.mixed_precision("16-mixed", "gpu") == "32-true"
    assert "needs CUDA" in caplog.text


def _split(n: int, seed: int) -> dict[str, torch.Tensor]:
    """Cached-feature-shaped data whose class is a weak prototype under per-frame noise."""
    prototypes = torch.randn(CLASSES, D, generator=torch.Generator().manual_seed(99))
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, CLASSES, (n,), generator=g)
    x = 0.35 * prototypes[labels][:, None] + torch.randn(n, T, D, generator=g)
    return {"features": x.half(), "lengths": torch.full((n,), T), "labels": labels}


def _top1(head: str, precision: str, tmp_path: Path) -> float:
    train, test = _split(384, seed=0), _split(400, seed=1)
    cfg = make_cfg(tmp_path, [f"model={head}"])
    torch.manual_seed(0)
    net = instantiate(cfg.model.net)(input_dim=D, num_classes=CLASSES)
    model = instantiate(cfg.model, net=net, num_classes=CLASSES, input_dim=D)
    x = train["features"].flatten(0, 1).float()
    model.model.norm.set(x.mean(0), x.std(0))
    trainer = L.Trainer(accelerator="cpu", devices=1, precision=precision, max_epochs=4, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, num_sanity_val_steps=0, deterministic=True)
    trainer.fit(model, train_dataloaders=InMemoryLoader(**train, batch_size=16, order=EpochOrder(384, shuffle=True)))
    test_loader = InMemoryLoader(**test, batch_size=100, order=EpochOrder(400, shuffle=False))
    return 100 * trainer.test(model, dataloaders=test_loader, verbose=False)[0]["test/top1"]


@pytest.mark.slow
def test_bf16_training_gives_32_true_top1(tmp_path: Path) -> None:
    full, bf16 = _top1("gru", "32-true", tmp_path), _top1("gru", "bf16-mixed", tmp_path)
    assert full > 60, full  # learnt something: chance is 25
    assert abs(bf16 - full) <= 3.0, (full, bf16)  # 400 test videos: 3 points = 12 of them


def test_bf16_extraction_gives_32_true_features_and_top1() -> None:
    """ResNet-18 features of coloured-noise clips through FeatureExtractor under both precisions:
    close features, and a nearest-class-mean classifier on them scores the same."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(48) % CLASSES
    colours = torch.tensor([[200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40]], dtype=torch.float32)
    frames = colours[labels][:, None, None, None, :] + 60 * torch.randn(48, 2, 32, 32, 3, generator=g)
    frames = frames.clamp(0, 255).to(torch.uint8)  # (B, T, H, W, 3), as the clip dataset gives them
    batches = [{"x": frames[i : i + 8], "lengths": torch.full((8,), 2), "index": torch.arange(i, i + 8)}
               for i in range(0, 48, 8)]
    feats = {}
    for precision in ("32-true", "bf16-mixed"):
        extractor = FeatureExtractor(FrameEncoder(model="resnet18", weights=None, size=32))
        trainer = L.Trainer(accelerator="cpu", devices=1, precision=precision, logger=False,
                            enable_progress_bar=False, enable_model_summary=False)
        out = trainer.predict(extractor, dataloaders=DataLoader(batches, batch_size=None))
        feats[precision] = torch.cat([o["features"] for o in out]).float().mean(1)  # (N, D)
    a, b = feats["32-true"], feats["bf16-mixed"]
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.99

    def top1(f: torch.Tensor) -> float:
        train, test = np.arange(48) < 24, np.arange(48) >= 24
        means = torch.stack([f[train & (labels.numpy() == c)].mean(0) for c in range(CLASSES)])
        return float((torch.cdist(f[test], means).argmin(1) == labels[test]).float().mean())

    assert top1(a) > 0.5 and abs(top1(a) - top1(b)) <= 1 / 24  # at most one of 24 test clips differs
