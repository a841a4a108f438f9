"""Building loggers (no W&B run is started here: the run begins lazily, at fit)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from lightning.pytorch.loggers import CSVLogger

from tests.conftest import make_cfg
from ucfbench.loggers import build_loggers, finish_loggers
from ucfbench.loggers.wandb import RunWandbLogger
from ucfbench.utils.wandb_mode import wandb_mode, wandb_offline


@pytest.fixture
def no_credentials(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))


def test_modes(no_credentials, monkeypatch) -> None:
    assert (wandb_mode(), wandb_offline()) == ("offline", True)  # nothing configured: offline
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode() == "online"
    for env, mode in (("disabled", "disabled"), ("dryrun", "offline"), ("offline", "offline"), ("online", "online")):
        monkeypatch.setenv("WANDB_MODE", env)
        assert wandb_mode() == mode  # WANDB_MODE wins


def test_disabled_builds_no_wandb_logger(no_credentials, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cfg = make_cfg(tmp_path, ["logger=[wandb,csv]"])
    loggers = build_loggers(cfg.logger, job=cfg)
    assert [type(lg) for lg in loggers] == [CSVLogger]
    assert not (tmp_path / "run" / "wandb_id").exists()


def test_identity_reaches_the_wandb_init_arguments(no_credentials, tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, ["dataset.protocol=random", "seed=3"])
    (logger,) = build_loggers(cfg.logger, job=cfg)
    init = logger._wandb_init
    assert isinstance(logger, RunWandbLogger) and "anonymous" not in init  # W&B warns about the deprecated key
    assert (init["name"], init["job_type"], init["tags"], init["mode"]) == (
        "synthetic-random-gru-seed3", "gru", ["synthetic", "random", "leaky"], "offline")
    assert init["config"]["leaky"] is True and init["config"]["cfg"]["dataset"]["protocol"] == "random"
    assert init["id"] == (tmp_path / "run" / "wandb_id").read_text().strip() and init["resume"] == "allow"
    finish_loggers([logger], exit_code=0)  # no run was started: nothing to finish, no error


def test_resume_keeps_the_id_and_a_new_run_gets_a_new_one(no_credentials, tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path)
    first = build_loggers(cfg.logger, job=cfg)[0]._wandb_init["id"]
    resumed = make_cfg(tmp_path, ["resume=true"])
    assert build_loggers(resumed.logger, job=resumed)[0]._wandb_init["id"] == first
    assert build_loggers(cfg.logger, job=cfg)[0]._wandb_init["id"] != first  # resume=false: a new W&B run


def test_log_model_is_refused_offline_and_kept_online(no_credentials, monkeypatch, tmp_path: Path, caplog) -> None:
    cfg = make_cfg(tmp_path, ["logger.wandb.log_model=true"])
    with caplog.at_level(logging.WARNING, logger="ucfbench"):
        (logger,) = build_loggers(cfg.logger, job=cfg)
    assert logger._log_model is False
    assert [r.getMessage() for r in caplog.records if "log_model" in r.getMessage()][0].count("offline") == 1
    monkeypatch.setenv("WANDB_MODE", "online")
    cfg = make_cfg(tmp_path, ["logger.wandb.log_model=true"])
    (logger,) = build_loggers(cfg.logger, job=cfg)
    assert logger._log_model is True and logger._wandb_init["mode"] == "online"
