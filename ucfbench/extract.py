"""Cache a dataset's features without training: ``ucfbench extract [dataset=...] [features.devices=N]``.

Shards extraction of a large dataset over several devices (``features.devices=4
features.strategy=ddp``), or over several jobs started at once (they share the pending videos);
every later run finds the features cached. ``ucfbench run`` with ``features.devices``
other than 1 starts this command first (:func:`extract_in_job`).
"""

from __future__ import annotations

# ruff: noqa: E402 - the front door comes before the heavy imports
import sys

if __name__ == "__main__":  # --help and config mistakes answered before torch loads
    from ucfbench.cli.front import front_door

    front_door("extract")

import subprocess
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console

from ucfbench.cli.main import hydra_main
from ucfbench.datamodules import model_input
from ucfbench.utils.errors import UsageError
from ucfbench.utils.resolvers import register_resolvers

register_resolvers()


def extract_in_job() -> None:
    """This Hydra job's extraction as its own ``ucfbench.extract`` job, with the job's overrides:
    its DDP ranks (which re-run that command) stop after extraction, and the calling process never
    joins their process group."""
    hydra_cfg = HydraConfig.get()
    out = Path(hydra_cfg.runtime.output_dir) / "extract"
    cmd = [sys.executable, "-m", "ucfbench.extract", *hydra_cfg.overrides.task, f"hydra.run.dir={out}",
           "hydra.output_subdir=null"]
    subprocess.run(cmd, check=True)


@hydra_main(config_path="../conf", config_name="extract")  # + validate_config, short user errors
def main(cfg: DictConfig) -> None:
    if (reads := model_input(cfg)) != "features":
        raise UsageError(f"the model reads {reads}, not cached features: nothing to extract")
    datamodule = instantiate(cfg.data)
    datamodule.dataset.prepare()
    cache = datamodule.extract(devices=cfg.features.devices, strategy=cfg.features.strategy)
    if cache.is_complete():
        n, t, d = cache.shape
        Console().print(f"Features: {cache.dir}  ({n} x {t} x {d} float16, {cache.extracted} extracted by this job)")


if __name__ == "__main__":
    main()
    sys.exit(0)
