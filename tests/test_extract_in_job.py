"""``features.devices`` other than 1: run.py starts the ``ucfbench.extract`` job before the DataModule is built."""

from __future__ import annotations

from pathlib import Path

import pytest

import ucfbench.run
from tests.conftest import make_cfg


class Started(Exception):
    pass


def test_run_starts_multi_device_extraction_as_its_own_job(tiny_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    monkeypatch.setattr(ucfbench.run, "instantiate", lambda node, **kw: built.append(node) or None)

    def extract_in_job() -> None:
        assert not built, "the extraction job runs before any object of the run is built"
        raise Started

    monkeypatch.setattr(ucfbench.run, "extract_in_job", extract_in_job)
    with pytest.raises(Started):
        ucfbench.run.train(make_cfg(tiny_home, ["debug=tiny", "features.devices=2", "features.strategy=ddp"]))
