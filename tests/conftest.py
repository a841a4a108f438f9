"""Shared fixtures: the real Hydra config, shrunk, and a tiny generated dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from ucfbench.utils.resolvers import register_resolvers

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
SHARED_DATA = REPO.parent / "shared" / "data"

register_resolvers()


def make_cfg(root: Path, overrides: list[str] | tuple[str, ...] = (), *, run_dir: Path | None = None) -> DictConfig:
    """Compose ``conf/config.yaml`` as ``python -m ucfbench.run`` would, rooted at ``root``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    run_dir = run_dir or root / "run"
    with open_dict(cfg):
        cfg.paths.root_dir = str(root)
        cfg.paths.output_dir = str(run_dir)
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.run.dir = str(run_dir)  # as `hydra.run.dir=...` would: no ${unique_dir:} claim
        cfg.hydra.job.num = 0
    HydraConfig().set_config(cfg)
    return cfg


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A UCFBENCH_HOME shared by the session: the tiny dataset and its features are made once."""
    return tmp_path_factory.mktemp("ucfbench-home")


@pytest.fixture
def tiny_cfg(tiny_home: Path, tmp_path: Path):
    """Factory: the real config with ``debug=tiny`` and extra overrides, writing into tmp_path."""

    def factory(*overrides: str, run_dir: Path | None = None) -> DictConfig:
        return make_cfg(tiny_home, ["debug=tiny", *overrides], run_dir=run_dir or tmp_path / "run")

    return factory


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real split files and clips beside the repository (``../shared/data``)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_dataset(tiny_home: Path):
    """The ``debug=tiny`` synthetic dataset, generated once per session."""
    from hydra.utils import instantiate

    dataset = instantiate(make_cfg(tiny_home, ["debug=tiny"]).dataset)
    dataset.prepare()
    return dataset


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow (CI does)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    run_slow = config.getoption("--runslow")
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow: run with --runslow"))
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))
