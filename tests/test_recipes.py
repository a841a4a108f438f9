"""docs/architecture.md's "Where to add" recipes, tried: in a copy of the project, a throwaway head, dataset
and backbone, each written only into the files its recipe names, pass the head contract tests and train
end to end together; a throwaway end-to-end model (an encoder + that head, one config) trains from clips."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

RECIPES = {
    # A sequence head: one file in ucfbench/models/heads/ and one conf/model/ config.
    "ucfbench/models/heads/throwaway.py": '''
from torch import nn

from ucfbench.models.heads.masking import masked_mean


class ThrowawayHead(nn.Module):
    def __init__(self, *, input_dim: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(input_dim, num_classes)

    def forward(self, x, lengths):
        return self.fc(masked_mean(x, lengths))
''',
    "conf/model/throwaway.yaml": "defaults:\n  - /model_base\n  - _self_\nnet:\n"
                                 "  _target_: ucfbench.models.heads.throwaway.ThrowawayHead\n",
    # A dataset: one file in ucfbench/data/ and one conf/dataset/ config.
    "ucfbench/data/throwaway.py": '''
from ucfbench.data.synthetic import SyntheticUCF101


class Throwaway(SyntheticUCF101):
    name = "throwaway"
''',
    "conf/dataset/throwaway.yaml": "defaults:\n  - synthetic\n  - _self_\n_target_: ucfbench.data.throwaway.Throwaway\n",
    # A backbone: one conf/features/ config.
    "conf/features/throwaway.yaml": "defaults:\n  - resnet18\n  - _self_\nmodel: resnet34\n",
    # An end-to-end model: one conf/model/ config with an encoder (it then reads clips) and a head.
    "conf/model/throwaway_e2e.yaml": "defaults:\n  - /model_base\n  - override /data@_global_.data: clips\n  - _self_\n"
                                     "encoder:\n  _target_: ucfbench.backbones.trainable.Backbone2D\n  weights: null\n"
                                     "  finetune_layers: [all]\n"
                                     "net:\n  _target_: ucfbench.models.heads.throwaway.ThrowawayHead\ninput_norm: none\n",
}


@pytest.mark.slow
def test_where_to_add_recipes_work_in_a_copy(tmp_path: Path) -> None:
    copy = tmp_path / "project"
    for name in ("ucfbench", "conf", "tests"):
        shutil.copytree(REPO / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy)
    for path, text in RECIPES.items():
        assert not (copy / path).exists(), f"{path} exists already: pick another throwaway name"
        (copy / path).write_text(text.lstrip())
    env = {**os.environ, "PYTHONPATH": str(copy), "UCFBENCH_HOME": str(tmp_path / "home")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], cwd=copy, env=env, capture_output=True, text=True, timeout=900)

    heads = run("-m", "pytest", "tests/models/test_heads.py", "-q", "-k", "throwaway", "-p", "no:cacheprovider")
    assert heads.returncode == 0, heads.stdout[-3000:] + heads.stderr[-3000:]  # 5 if no test picked the head up
    out = tmp_path / "run"
    train = run("-m", "ucfbench.run", "debug=tiny", "model=throwaway", "dataset=throwaway", "features=throwaway",
                "logger=csv", f"hydra.run.dir={out}")
    assert train.returncode == 0, train.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["model"], metrics["dataset"], metrics["features"]["model"]) == ("throwaway", "throwaway", "resnet34")
    e2e = tmp_path / "e2e"
    train = run("-m", "ucfbench.run", "debug=tiny", "model=throwaway_e2e", "data.size=16", "data.sampler.num_frames=4",
                "data.num_workers=0", "trainer.max_epochs=1", "logger=csv", f"hydra.run.dir={e2e}")
    assert train.returncode == 0, train.stderr[-3000:]
    metrics = json.loads((e2e / "metrics.json").read_text())
    assert metrics["model"] == "throwaway_e2e" and metrics["features"]["end_to_end"] and metrics["clips"]["frames"] == 4
