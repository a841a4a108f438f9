"""Every config option composes into something instantiable."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.conftest import CONF, make_cfg


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


@pytest.mark.parametrize("experiment", _options("experiment"))
def test_experiments_compose(experiment: str, tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, [f"experiment={experiment}"])
    assert cfg.model.net._target_ and cfg.dataset._target_


@pytest.mark.parametrize("debug", _options("debug"))
def test_debug_configs_compose(debug: str, tmp_path: Path) -> None:
    assert make_cfg(tmp_path, [f"debug={debug}"]).trainer


@pytest.mark.parametrize("group", ["trainer", "logger", "callbacks", "features", "dataset", "data"])
def test_every_option_composes(group: str, tmp_path: Path) -> None:
    for option in _options(group):
        cfg = make_cfg(tmp_path, [f"{group}={option}"])
        assert group in cfg, option


def _outside(cfg, group: str) -> dict:
    """The config as composed (interpolations unresolved), less ``group`` and Hydra's own node."""
    return {k: v for k, v in OmegaConf.to_container(cfg, resolve=False).items() if k not in (group, "hydra")}


@pytest.mark.parametrize("dataset", _options("dataset"))
def test_a_dataset_config_writes_only_its_own_group(dataset: str, tmp_path: Path) -> None:
    """The dataset declares facts in its own node; other groups read them, so choosing one changes
    nothing outside ``dataset`` as composed (and nothing depends on the defaults list's order)."""
    assert "@package" not in (CONF / "dataset" / f"{dataset}.yaml").read_text()
    assert _outside(make_cfg(tmp_path, [f"dataset={dataset}"]), "dataset") == _outside(make_cfg(tmp_path), "dataset")


@pytest.mark.parametrize(("overrides", "size", "weights", "clip_size", "net_weights"), [
    ([], 64, None, 64, None),                                  # synthetic: generated size, random init
    (["debug=tiny"], 32, None, 32, None),                      # debug_dataset/tiny_synthetic.yaml's 32 px
    (["dataset.spec.size=96"], 96, None, 96, None),
    (["dataset=ucf101"], 224, "IMAGENET1K_V1", 224, "IMAGENET1K_V1"),  # no size of its own: the backbone's
    (["dataset=folder", "dataset.frame_size=112"], 112, "IMAGENET1K_V1", 112, "IMAGENET1K_V1"),
    (["dataset=ucf101", "features=timm"], None, "default", 224, "IMAGENET1K_V1"),
    (["features.weights=IMAGENET1K_V1", "features.size=128"], 128, "IMAGENET1K_V1", 64, None),
])
def test_dataset_facts_set_frame_size_and_weights(overrides, size, weights, clip_size, net_weights,
                                                  tmp_path: Path) -> None:
    """features.size / weights, data.size (clips) and the CNN-RNN's weights follow the dataset's
    frame_size and pretrained_weights; a key set on the command line wins."""
    cfg = make_cfg(tmp_path, overrides)
    assert (cfg.features.size, cfg.features.weights) == (size, weights)
    cnn = make_cfg(tmp_path, [*overrides, "model=cnn_rnn"])
    assert (cnn.data.size, cnn.model.encoder.weights) == (clip_size, net_weights)
    dataset = instantiate(cfg.dataset)  # the facts are arguments every dataset takes
    assert (dataset.frame_size, dataset.pretrained_weights) == (cfg.dataset.frame_size, cfg.dataset.pretrained_weights)


def test_the_facts_do_not_depend_on_the_defaults_order(tmp_path: Path) -> None:
    """``dataset`` listed first or last in config.yaml's defaults: the same values."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    line = "  - dataset: synthetic\n"
    text = (CONF / "config.yaml").read_text().replace(line, "")
    first, last = tmp_path / "first", tmp_path / "last"
    for conf, (anchor, moved) in ((first, ("  - _self_\n", "  - _self_\n" + line)),
                                  (last, ("  - logger:", line + "  - logger:"))):
        shutil.copytree(CONF, conf)
        assert anchor in text
        (conf / "config.yaml").write_text(text.replace(anchor, moved))

    def facts(conf: Path, overrides: list[str]) -> tuple:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = compose("config", overrides=overrides)
        return tuple(OmegaConf.to_container(cfg[group], resolve=True) for group in ("features", "data", "model"))

    for overrides in ([], ["dataset=ucf101"], ["model=cnn_rnn"], ["model=cnn_rnn", "dataset=hmdb51"], ["debug=tiny"]):
        assert facts(first, overrides) == facts(last, overrides), overrides


def test_callbacks_and_trainer_instantiate(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, ["trainer=cpu"])
    callbacks = [instantiate(c) for c in cfg.callbacks.values()]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=False)
    assert trainer.max_epochs == 20


def test_cnn_rnn_selects_clips_and_its_callbacks(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, ["model=cnn_rnn"])
    assert cfg.data._target_.endswith("ClipDataModule") and cfg.model.encoder._target_.endswith("Backbone2D")
    assert cfg.model.net._target_.endswith("TemporalHead")
    assert cfg.callbacks.finetuning.unfreeze_epoch == 5 and cfg.callbacks.early_stopping.patience == 8
    assert cfg.callbacks.early_stopping.monitor == "val/top1" and "model_checkpoint" in cfg.callbacks
    assert make_cfg(tmp_path).data._target_.endswith("FeatureDataModule")  # sequence heads keep the features


def test_seed_000_recipe(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, ["experiment=seed_ucf101_cnn_rnn", "trainer.accelerator=cpu"])
    assert cfg.dataset._target_.endswith("UCF101") and cfg.model.encoder.weights == "IMAGENET1K_V1"
    assert (cfg.data.sampler.num_frames, cfg.data.sampler.stride, cfg.data.size, cfg.data.batch_size) == (16, 2, 144, 4)
    assert (cfg.trainer.accumulate_grad_batches, cfg.trainer.max_epochs, cfg.data.test_views) == (2, 45, 1)
    opt, sched = cfg.model.optimizer, cfg.model.scheduler
    assert (opt.lr, opt.weight_decay, sched.warmup_epochs, sched.max_epochs) == (3e-4, 1e-4, 5, 45)
    assert cfg.model.label_smoothing == 0.1 and cfg.callbacks.finetuning.unfreeze_epoch == 5
    assert cfg.trainer.precision == "32-true"  # 16-mixed falls back without CUDA


def test_cnn_rnn_ablations_sweep_every_variant(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, ["experiment=cnn_rnn_ablations"])
    variants = cfg.hydra.sweeper.params.variant.split(",")
    assert set(variants) == set(_options("variant"))
    changed = {
        "no_attention": ("model.net.attention", False), "unidirectional": ("model.net.bidirectional", False),
        "resnet34": ("model.encoder.arch", "resnet34"), "resnet50": ("model.encoder.arch", "resnet50"),
        "fp32": ("trainer.precision", "32-true"), "no_accumulation": ("trainer.accumulate_grad_batches", 1),
    }
    for variant, (key, value) in changed.items():
        one = make_cfg(tmp_path, ["experiment=seed_ucf101_cnn_rnn", f"variant={variant}", "trainer.accelerator=gpu"])
        assert OmegaConf.select(one, key) == value, variant
        assert one.dataset._target_.endswith("UCF101")


def test_sweep_dir_resolves_before_hydra_config_is_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hydra's sweeper resolves ``hydra.sweep.dir`` before it sets HydraConfig: no ``${hydra:...}`` there."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    def sweep_dir() -> str:  # composed afresh: a config resolves (and claims) its sweep dir once
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None  # as in a fresh `python -m ucfbench.run -m ...`
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("config", overrides=["experiment=synthetic_study"], return_hydra_config=True)
        return str(cfg.hydra.sweep.dir)

    monkeypatch.setenv("UCFBENCH_HOME", str(tmp_path / "home"))
    assert sweep_dir().startswith(str(tmp_path / "home" / "runs" / "multirun"))
    monkeypatch.delenv("UCFBENCH_HOME")
    monkeypatch.chdir(tmp_path)
    assert sweep_dir().startswith(str(tmp_path / "runs" / "multirun"))


def test_model_input_is_the_one_features_or_clips_switch(tmp_path: Path) -> None:
    from ucfbench.datamodules import model_input

    assert model_input(make_cfg(tmp_path, [])) == "features"
    cnn = make_cfg(tmp_path, ["model=cnn_rnn"])
    assert model_input(cnn) == "clips" and cnn.data._target_.endswith("ClipDataModule")
    assert "finetuning" in cnn.callbacks and "model_checkpoint" in cnn.callbacks  # callbacks=cnn_rnn extends default
    with pytest.raises(ValueError, match="use data=clips"):
        model_input(make_cfg(tmp_path, ["model=cnn_rnn", "data=features"]))
    with pytest.raises(ValueError, match="use data=features"):
        model_input(make_cfg(tmp_path, ["data=clips"]))


def test_a_dataset_takes_its_facts_as_added_keys(tmp_path: Path) -> None:
    """A dataset config that declares no facts can have them added (``+dataset.frame_size=96``)."""
    from ucfbench.cli.validate import validate_config
    from ucfbench.utils.errors import UsageError

    cfg = make_cfg(tmp_path, ["dataset=ucf50"])
    validate_config(cfg, overrides=["+dataset.frame_size=96", "+dataset.pretrained_weights=false"])
    with pytest.raises(UsageError, match=r"takes no argument 'frame_sise' \(did you mean dataset\.frame_size\?\)"):
        validate_config(cfg, overrides=["+dataset.frame_sise=96"])
