"""Run identity: names that tell jobs apart, a group per study, tags and config keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

from tests.conftest import make_cfg
from ucfbench.loggers.identity import model_name, run_identity, split_tag, study_name, study_of_run_dir


def _as_job(cfg, *, task: list[str], sweep_dir: Path, num: int = 0, params: dict | None = None):
    """Make ``cfg`` look like job ``num`` of a multirun launched into ``sweep_dir``."""
    OmegaConf.set_readonly(cfg.hydra, False)  # make_cfg's set_config froze it
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.overrides.task = task
        cfg.hydra.sweep.subdir = str(num)
        cfg.hydra.runtime.output_dir = str(sweep_dir / str(num))
        cfg.hydra.sweeper.params = params
    HydraConfig().set_config(cfg)
    return cfg


def test_split_tags_and_model_names() -> None:
    assert [split_tag(s) for s in ("split2", "fold03", "random", "groups")] == ["s2", "logo03", "random", "groups"]
    assert model_name({"model": "cnn_rnn", "variant": "no_attention"}) == "cnn_rnn/no_attention"
    assert model_name({"model": "cnn_rnn", "variant": "full"}) == "cnn_rnn"


@pytest.mark.parametrize(("overrides", "name", "tags"), [
    (["dataset=ucf50", "dataset.fold=3", "seed=1"], "ucf50-logo03-gru-seed1", ["ucf50", "logo"]),
    (["dataset=ucf50", "dataset.protocol=random", "seed=0"], "ucf50-random-gru-seed0", ["ucf50", "random", "leaky"]),
    (["dataset=ucf101", "dataset.split=2", "model=cnn_rnn", "variant=no_attention", "seed=0"],
     "ucf101-s2-cnn_rnn/no_attention-seed0", ["ucf101", "official"]),
    (["dataset.protocol=random"], "synthetic-random-gru-seed42", ["synthetic", "random", "leaky"]),
])
def test_single_run_identity(overrides: list[str], name: str, tags: list[str], tmp_path: Path) -> None:
    identity = run_identity(make_cfg(tmp_path, overrides))
    assert identity.name == name and identity.tags == tags and identity.study is None
    assert set(identity.keys()) == {"model", "variant", "dataset", "protocol", "split", "fold", "seed", "leaky",
                                    "study", "backbone"}


def test_ucf50_fold_and_cnn_rnn_keys(tmp_path: Path) -> None:
    keys = run_identity(make_cfg(tmp_path, ["dataset=ucf50", "dataset.fold=17"])).keys()
    assert (keys["protocol"], keys["split"], keys["fold"], keys["leaky"], keys["backbone"]) == (
        "logo", None, 17, False, "resnet18")
    keys = run_identity(make_cfg(tmp_path, ["model=cnn_rnn", "variant=resnet34"])).keys()
    assert (keys["model"], keys["variant"], keys["backbone"]) == ("cnn_rnn/resnet34", "resnet34", "resnet34")


def test_swept_values_join_the_name(tmp_path: Path) -> None:
    sweep = tmp_path / "2026-01-02_03-04-05"
    sweep.mkdir()
    # What the command line swept: multirun.yaml keeps it (a job's own overrides hold single values).
    OmegaConf.save({"hydra": {"overrides": {"task": ["model.net.hidden_dim=256,512", "dataset.split=1,2",
                                                     "trainer.max_epochs=3"]}}}, sweep / "multirun.yaml")
    task = ["model.net.hidden_dim=256", "dataset.split=1", "trainer.max_epochs=3"]
    cfg = _as_job(make_cfg(tmp_path, task), task=task, sweep_dir=sweep)
    identity = run_identity(cfg)
    assert identity.name == "synthetic-s1-gru-seed42-hidden_dim256"  # max_epochs is the same in every job
    assert identity.study == "2026-01-02_03-04-05"
    # An experiment's sweep (or Optuna's search space) is read from the sweeper's params.
    task = ["experiment=synthetic_study", "model=gru", "seed=42", "model.optimizer.lr=0.0012345"]
    cfg = _as_job(make_cfg(tmp_path, task), task=task, sweep_dir=sweep, num=3,
                  params={"model": "gru,lstm", "model.optimizer.lr": "interval(1e-4, 1e-2)"})
    identity = run_identity(cfg)
    assert identity.name == "synthetic-s1-gru-seed42-lr0.00123"
    assert identity.study == "synthetic_study-2026-01-02_03-04-05"  # two launches never share a group


def test_study_names() -> None:
    assert study_name(multirun=True, experiment="ucf50_logo", sweep_dir="/r/multirun/2026-01-01_00-00-00") == \
        "ucf50_logo-2026-01-01_00-00-00"
    assert study_name(multirun=True, experiment=None, sweep_dir="/r/my_sweep") == "my_sweep"
    assert study_name(multirun=True, experiment="ucf50_logo", sweep_dir="/r/ucf50_logo") == "ucf50_logo"
    assert study_name(multirun=False, experiment="seed_ucf101_cnn_rnn", sweep_dir=None) == "seed_ucf101_cnn_rnn"
    assert study_name(multirun=False, experiment=None, sweep_dir=None) is None


def test_study_of_a_finished_job(tmp_path: Path) -> None:
    job = tmp_path / "sweep" / "3"
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save({"hydra": {"mode": "MULTIRUN", "sweep": {"dir": "${now:%H}", "subdir": "${hydra.job.num}"},
                              "runtime": {"output_dir": str(job), "choices": {"experiment": "synthetic_study"}}}},
                   job / ".hydra" / "hydra.yaml")
    assert study_of_run_dir(job) == "synthetic_study-sweep"
    assert study_of_run_dir(tmp_path) is None
