"""Cache a dataset's features without training: ``ucfbench extract [dataset=...] [features.devices=N]``.

Shards extraction of a large dataset over several devices (``features.devices=4
features.strategy=ddp``), or over several jobs started at once (they share the pending videos);
every later run finds the features cached.
"""

from __future__ import annotations

# ruff: noqa: E402 - the front door comes before the heavy imports
import sys

if __name__ == "__main__":  # --help and config mistakes answered before torch loads
    from ucfbench.cli.front import front_door

    front_door("extract")

from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.console import Console

from ucfbench.cache.extraction import extract_from_config
from ucfbench.cli.main import hydra_main
from ucfbench.utils.resolvers import register_resolvers

register_resolvers()


@hydra_main(config_path="../conf", config_name="extract")  # + validate_config, short user errors
def main(cfg: DictConfig) -> None:
    dataset = instantiate(cfg.dataset)
    dataset.prepare()
    cache = extract_from_config(dataset, cfg.features, in_process=True)
    if cache.is_complete():
        n, t, d = cache.shape
        Console().print(f"Features: {cache.dir}  ({n} x {t} x {d} float16, {cache.extracted} extracted by this job)")


if __name__ == "__main__":
    main()
    sys.exit(0)
