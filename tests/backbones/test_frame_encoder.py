"""The one frame encoder: every `features=` option builds, preprocesses as its backbone wants, pools, keys its cache."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from tests.conftest import make_cfg
from ucfbench.backbones.frame_encoder import FrameEncoder, _split_tag, resolve_preprocess
from ucfbench.cache.extraction import feature_spec
from ucfbench.cache.features import FeatureSpec
from ucfbench.data.sampling import UniformSampler
from ucfbench.data.transforms import IMAGENET_MEAN, IMAGENET_STD

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's, not ImageNet's
# features option -> (extra overrides, timm/torchvision model, pretrained tag on real data, D with its default pool)
OPTIONS = {
    "resnet18": ([], "resnet18", "IMAGENET1K_V1", 512),
    "dinov2_vits14": ([], "vit_small_patch14_dinov2", "lvd142m", 2 * 384),
    "dinov2_vitb14": ([], "vit_base_patch14_dinov2", "lvd142m", 2 * 768),
    "clip_vitb16": ([], "vit_base_patch16_clip_224", "openai", 768),
    "siglip_vitb16": ([], "vit_base_patch16_siglip_224", "webli", 768),
    "timm": (["features.model=test_vit"], "test_vit", "r160_in1k", 64),
}
TINY_VIT = dict(library="timm", model="test_vit", weights=None)  # timm's 0.3M-parameter test ViT (patch 16)


@pytest.mark.parametrize("option", list(OPTIONS))
def test_every_option_composes_with_its_pretrained_tag(option: str, tmp_path: Path) -> None:
    extra, model, tag, _ = OPTIONS[option]
    real = make_cfg(tmp_path, [f"features={option}", "dataset=ucf101", *extra]).features
    if real.library == "timm":  # the tag: in the model name (timm's arch.tag), or timm's default for the arch
        assert _split_tag(real.model, real.weights) == (model, tag)
    else:
        assert (real.model, real.weights) == (model, tag)
    tiny = make_cfg(tmp_path, ["debug=tiny", f"features={option}", *extra]).features
    assert tiny.weights is None and tiny.size == 32  # the generated set: random init at its resolution


def test_generic_timm_needs_a_model_name(tmp_path: Path) -> None:
    with pytest.raises(InstantiationException) as err:
        instantiate(make_cfg(tmp_path, ["features=timm"]).features.encoder)
    assert isinstance(err.value.__cause__, ValueError) and "features=timm features.model=" in str(err.value.__cause__)


@pytest.mark.parametrize("option", [o for o in OPTIONS if o != "resnet18"])
def test_builds_with_random_init_and_encodes_frames(option: str, tmp_path: Path) -> None:
    extra, model, _, dim = OPTIONS[option]
    encoder = instantiate(make_cfg(tmp_path, ["debug=tiny", f"features={option}", *extra]).features.encoder)
    assert encoder.model_name == model and encoder.weights is None and encoder.out_dim == dim
    frames = torch.randint(0, 256, (2, 3, 3, 40, 40), dtype=torch.uint8)  # (B, T, 3, H, W)
    feats = encoder(frames)
    assert feats.shape == (2, 3, dim) and torch.isfinite(feats).all()
    assert all(not p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.net.training  # frozen stays in eval mode


def test_preprocessing_follows_the_backbones_pretrained_config() -> None:
    resnet = resolve_preprocess(library="torchvision", model="resnet18", weights="IMAGENET1K_V1", size=224)
    assert (resnet.mean, resnet.std, resnet.size, resnet.resize) == (IMAGENET_MEAN, IMAGENET_STD, 224, 224)
    clip = resolve_preprocess(library="timm", model="vit_base_patch16_clip_224", weights="openai")
    assert clip.mean == pytest.approx(CLIP_MEAN) and clip.mean != pytest.approx(IMAGENET_MEAN)
    assert (clip.size, clip.crop_pct, clip.resize, clip.interpolation) == (224, 0.9, 248, "bicubic")
    siglip = resolve_preprocess(library="timm", model="vit_base_patch16_siglip_224", weights="webli")
    assert siglip.mean == siglip.std == (0.5, 0.5, 0.5)
    dinov2 = resolve_preprocess(library="timm", model="vit_small_patch14_dinov2", weights="lvd142m")
    assert dinov2.size == 518 and dinov2.mean == pytest.approx(IMAGENET_MEAN)  # the config's own size
    assert resolve_preprocess(library="timm", model="vit_small_patch14_dinov2", weights="lvd142m", size=64,
                              patch=14).size == 56  # rounded down to whole patches


def test_the_encoder_applies_its_preprocessing_to_uint8_frames() -> None:
    encoder = FrameEncoder(library="timm", model="vit_base_patch16_clip_224", weights=None, size=32)
    white = torch.full((1, 1, 3, 35, 35), 255, dtype=torch.uint8)  # decoded at size / crop_pct = 35
    x = encoder.preprocess(white)
    assert x.shape == (1, 1, 3, 32, 32)
    expected = (1 - torch.tensor(CLIP_MEAN)) / torch.tensor(encoder.preprocessing.std)
    torch.testing.assert_close(x[0, 0, :, 0, 0], expected)
    # uint8 in = preprocessed float in: one path for extraction and inference.
    torch.testing.assert_close(encoder(white), encoder(x))


def test_pool_options_give_their_dimension() -> None:
    cls, mean, both = (FrameEncoder(**TINY_VIT, size=32, pool=p) for p in ("cls", "mean", "cls_mean"))
    assert (cls.out_dim, mean.out_dim, both.out_dim) == (64, 64, 128)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(both(x), torch.cat([cls(x), mean(x)], dim=-1))
    assert not torch.allclose(cls(x), mean(x))


@pytest.mark.parametrize("library, model", [("torchvision", "resnet18"), ("timm", "test_resnet")])
def test_cnns_refuse_token_pooling(library: str, model: str) -> None:
    with pytest.raises(ValueError, match="global average pooling only: use features.pool=mean"):
        FrameEncoder(library=library, model=model, weights=None, pool="cls")
    assert FrameEncoder(library=library, model=model, weights=None, pool=None).pool == "mean"  # features=timm's default


def test_random_timm_backbone_is_seeded() -> None:
    a, b = FrameEncoder(**TINY_VIT, size=32), FrameEncoder(**TINY_VIT, size=32)
    c = FrameEncoder(**TINY_VIT, size=32, init_seed=1)
    x = torch.randn(1, 2, 3, 32, 32)
    assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))


def test_offline_timm_weights_error_in_process(tmp_path: Path, monkeypatch) -> None:
    """The same, with the hub's settings patched in this process (the variable is read at import)."""
    from huggingface_hub import constants

    from ucfbench.backbones.frame_encoder import WeightsUnavailableError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(WeightsUnavailableError) as err:
        FrameEncoder(library="timm", model="test_vit", weights="r160_in1k")
    message = str(err.value)
    assert len(message.splitlines()) == 1 and str(tmp_path / "hub") in message
    assert "test_vit.r160_in1k" in message and "features.weights=null" in message


@pytest.mark.parametrize(("encoder", "key"), [("FrameEncoder", "features.weights"), ("Backbone2D", "model.encoder.weights")])
def test_offline_torchvision_weights_error_names_the_encoders_key(encoder: str, key: str, monkeypatch) -> None:
    """The frozen encoder's weights are features.weights; the CNN-RNN's trainable one's model.encoder.weights."""
    import torchvision

    from ucfbench.backbones import trainable
    from ucfbench.backbones.frame_encoder import WeightsUnavailableError

    def offline(name, weights=None):
        if weights is not None:
            raise OSError("<urlopen error [Errno -2] Name or service not known>")
        return real(name, weights=None)

    real = torchvision.models.get_model
    monkeypatch.setattr(torchvision.models, "get_model", offline)
    cls = {"FrameEncoder": FrameEncoder, "Backbone2D": trainable.Backbone2D}[encoder]
    with pytest.raises(WeightsUnavailableError, match=rf"or run with {key}=null for a random backbone"):
        cls(weights="IMAGENET1K_V1")


@pytest.mark.slow
def test_offline_timm_weights_error_says_where_they_go(tmp_path: Path) -> None:
    """No network (forced offline, empty HF_HOME): one line naming the hub cache and features.weights=null."""
    code = ("from ucfbench.backbones.frame_encoder import FrameEncoder, WeightsUnavailableError\n"
            "try:\n    FrameEncoder(library='timm', model='test_vit', weights='r160_in1k')\n"
            "except WeightsUnavailableError as err:\n    print(err)\n    raise SystemExit(3)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    env.pop("HF_HUB_CACHE", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 3, proc.stderr[-2000:]
    message = proc.stdout.strip()
    assert len(message.splitlines()) == 1
    assert str(tmp_path / "hf" / "hub") in message and "test_vit.r160_in1k" in message
    assert "features.weights=null" in message


SPEC = FeatureSpec(arch="resnet18", weights=None, init_seed=0, size=32, sampler=UniformSampler(num_frames=8),
                   backend="pyav")


def test_resnet_cache_keys_are_pinned() -> None:
    """ResNet keys do not move with the timm fields (hours of UCF101 extraction per key). Pinned after
    the checksummed row-cache format (which, by design, left the caches of the format before it)."""
    assert SPEC.key("d", "f") == "07618def6d854b70"
    ucf = FeatureSpec(arch="resnet50", weights="IMAGENET1K_V1", init_seed=0, size=224,
                      sampler=UniformSampler(num_frames=32), backend="auto")
    assert ucf.key("ucf101", "abc") == "a74e90d440e5a3cc"


@pytest.mark.parametrize("change", [{"library": "torchvision"}, {"pool": "cls_mean"}, {"preprocess": {"mean": [0.5] * 3}},
                                    {"arch": "test_vit"}, {"weights": "r160_in1k"}])
def test_key_changes_with_backbone_pooling_and_preprocessing(change: dict) -> None:
    timm_spec = dataclasses.replace(SPEC, library="timm", arch="vit", pool="cls", preprocess={"mean": [0.4] * 3})
    assert dataclasses.replace(timm_spec, **change).key("d", "f") != timm_spec.key("d", "f")
    assert timm_spec.key("d", "f") != SPEC.key("d", "f")


def test_feature_spec_records_the_resolved_preprocessing(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, ["debug=tiny", "features=clip_vitb16"]).features
    spec = feature_spec(instantiate(cfg.encoder), instantiate(cfg.sampler), cfg.backend)
    assert (spec.library, spec.arch, spec.weights, spec.pool, spec.size) == ("timm", "vit_base_patch16_clip_224",
                                                                          None, "cls", 32)
    assert spec.preprocess["mean"] == pytest.approx(CLIP_MEAN) and spec.preprocess["resize"] == 35
    resnet = make_cfg(tmp_path, ["debug=tiny"]).features
    assert feature_spec(instantiate(resnet.encoder), instantiate(resnet.sampler), "auto").preprocess is None  # the key ResNets had


def test_a_sweep_over_backbones_puts_each_on_its_own_row(tmp_path: Path) -> None:
    import json

    from ucfbench.eval.run_dir import load_runs
    from ucfbench.eval.study import aggregate

    base = {"dataset": "synthetic", "split": "split1", "seed": 0, "top1": 0.5, "top5": 1.0, "mean_class_acc": 0.5,
            "params": 1000}
    for i, (model, backbone) in enumerate([("gru", "resnet18"), ("gru", "vit_small_patch14_dinov2"),
                                          ("mean_pool", "resnet18")]):
        (tmp_path / str(i)).mkdir()
        metrics = {**base, "model": model, "features": {"model": backbone}}
        (tmp_path / str(i) / "metrics.json").write_text(json.dumps(metrics))
    rows = aggregate(load_runs(tmp_path))
    assert sorted(r["model"] for r in rows) == ["gru @ resnet18", "gru @ vit_small_patch14_dinov2",
                                               "mean_pool @ resnet18"]
    (tmp_path / "1" / "metrics.json").unlink()  # one backbone: labels stay the head's name
    assert sorted(r["model"] for r in aggregate(load_runs(tmp_path))) == ["gru", "mean_pool"]


def test_backbone_info_names_the_backbone(tmp_path: Path) -> None:
    from ucfbench.cache.extraction import backbone_info
    from ucfbench.cache.features import FeatureCache

    spec = dataclasses.replace(SPEC, library="timm", arch="test_vit", pool="cls_mean", preprocess={"mean": [0.5] * 3})
    cache = FeatureCache(root=tmp_path, spec=spec, dataset_name="d", records=[], fingerprint="f", dim=128)
    info = backbone_info(cache)
    assert (info["library"], info["model"], info["pool"], info["dim"]) == ("timm", "test_vit", "cls_mean", 128)
    assert info["cache"] == str(cache.dir) and "test_vit" in cache.dir.name


def test_a_run_config_without_features_encoder_still_names_its_encoder(tmp_path: Path) -> None:
    from omegaconf import OmegaConf, open_dict

    from ucfbench.inference.model import encoder_config

    features = make_cfg(tmp_path, ["debug=tiny"]).features
    saved = OmegaConf.create(OmegaConf.to_container(features, resolve=True))
    assert encoder_config(saved) == saved.encoder
    with open_dict(saved):
        del saved["encoder"]
        saved["arch"] = saved.pop("model")  # the oldest runs' name for it
    built = instantiate(encoder_config(saved))
    assert (built.model_name, built.weights, built.out_dim) == ("resnet18", None, 512)
